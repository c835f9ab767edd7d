#include "publish_message.h"

namespace loadgen {
namespace {

constexpr size_t kStampDigits = 16, kSerialDigits = 10;

void write_fixed(std::string& s, size_t at, uint64_t v, size_t digits) {
  for (size_t i = 0; i < digits; i++) {
    s[at + digits - 1 - i] = char('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

size_t PublishMessage::min_data_bytes() {
  return std::string("{\"t\":,\"n\":,\"p\":\"\"}").size() + kStampDigits + kSerialDigits;
}

PublishMessage::PublishMessage(const std::string& topic, size_t data_bytes) {
  size_t pad = data_bytes > min_data_bytes() ? data_bytes - min_data_bytes() : 0;
  text_ = "{\"op\":\"pub\",\"topic\":\"" + topic + "\",\"data\":{\"t\":";
  stamp_at_ = text_.size();
  text_ += std::string(kStampDigits, '0') + ",\"n\":";
  serial_at_ = text_.size();
  text_ += std::string(kSerialDigits, '0') + ",\"p\":\"" + std::string(pad, 'x') + "\"},\"id\":";
  id_at_ = text_.size();
  text_ += std::string(kSerialDigits, '0') + "}";
  data_bytes_ = min_data_bytes() + pad;
}

const std::string& PublishMessage::build(uint64_t sent_ns, uint64_t serial) {
  write_fixed(text_, stamp_at_, kStampBase + sent_ns, kStampDigits);
  write_fixed(text_, serial_at_, kSerialBase + serial, kSerialDigits);
  // The request id is the publish number too, so an ack or err names the publish it answers.
  write_fixed(text_, id_at_, kSerialBase + serial, kSerialDigits);
  return text_;
}

}  // namespace loadgen
