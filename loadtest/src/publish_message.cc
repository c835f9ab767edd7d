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

// `n` bytes of chat-like JSON text inside a string: lines of "user: words" from a fixed list,
// chosen by a seeded generator (what a chat history page holds; deflate shrinks it about 4x).
std::string chat_text(size_t n) {
  static const char* const kUsers[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace"};
  static const char* const kWords[] = {
      "hey",    "are",    "you",     "coming", "to",      "the",    "standup", "today",   "I",
      "think",  "we",     "should",  "ship",   "release", "after",  "lunch",   "sounds",  "good",
      "see",    "there",  "lol",     "ok",     "thanks",  "build",  "is",      "green",   "again",
      "review", "my",     "PR",      "please", "deploy",  "failed", "on",      "staging", "retrying",
      "now",    "coffee", "meeting", "moved",  "3pm"};
  std::string s;
  s.reserve(n + 64);
  uint32_t x = 2463534242u;
  auto next = [&x](uint32_t m) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x % m;
  };
  while (s.size() < n) {  // bounded: every round appends at least one character
    s += "{user:";
    s += kUsers[next(7)];
    s += ",ts:17648" + std::to_string(10000 + next(90000)) + ",text:";
    for (uint32_t w = 0, words = 3 + next(12); w < words; w++) {
      s += kWords[next(sizeof kWords / sizeof kWords[0])];
      s += ' ';
    }
    s += "} ";
  }
  s.resize(n);
  return s;
}

}  // namespace

size_t PublishMessage::min_data_bytes() {
  return std::string("{\"t\":,\"n\":,\"p\":\"\"}").size() + kStampDigits + kSerialDigits;
}

PublishMessage::PublishMessage(const std::string& topic, size_t data_bytes, bool chat) {
  size_t pad = data_bytes > min_data_bytes() ? data_bytes - min_data_bytes() : 0;
  text_ = "{\"op\":\"pub\",\"topic\":\"" + topic + "\",\"data\":{\"t\":";
  stamp_at_ = text_.size();
  text_ += std::string(kStampDigits, '0') + ",\"n\":";
  serial_at_ = text_.size();
  text_ += std::string(kSerialDigits, '0') + ",\"p\":\"" + (chat ? chat_text(pad) : std::string(pad, 'x')) +
           "\"},\"id\":";
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
