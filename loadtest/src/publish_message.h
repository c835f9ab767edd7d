// Builds protocol v1 publish messages whose data is exactly the requested size:
// {"t":<send ns>,"n":<publish number>,"p":"xxx..."}. Numbers are written at a fixed width
// (offset so they never need a leading zero), which keeps every publish the same size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace loadgen {

class PublishMessage {
 public:
  // chat: the padding is a JSON array of chat messages (user, time, text) instead of "xxx...".
  PublishMessage(const std::string& topic, size_t data_bytes, bool chat = false);
  // The JSON text of one publish; valid until the next call.
  const std::string& build(uint64_t sent_ns, uint64_t serial);
  size_t data_bytes() const { return data_bytes_; }
  static size_t min_data_bytes();

  // Added to values so they always have a fixed number of digits.
  static constexpr uint64_t kStampBase = 1000000000000000ull;  // 16 digits: ~104 days of ns
  static constexpr uint64_t kSerialBase = 1000000000ull;       // 10 digits

 private:
  std::string text_;
  size_t stamp_at_ = 0, serial_at_ = 0, id_at_ = 0;
  size_t data_bytes_ = 0;
};

}  // namespace loadgen
