#include "ws/frame_writer.h"

#include <cstring>

namespace ringcast::ws {

namespace {

constexpr size_t kLength16Bytes = 2;
constexpr size_t kLength64Bytes = 8;

void store_be(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = uint8_t(v >> (8 * (n - 1 - i)));
}

size_t write_header(uint8_t* out, Opcode op, bool fin, uint64_t len, bool masked) {
  out[0] = uint8_t((fin ? kFinBit : 0) | uint8_t(op));
  const uint8_t mask = masked ? kMaskBit : 0;
  if (len <= kMaxLength7) {
    out[1] = uint8_t(mask | len);
    return 2;
  }
  if (len <= kMaxLength16) {
    out[1] = mask | kLength16Marker;
    store_be(out + 2, len, kLength16Bytes);
    return 2 + kLength16Bytes;
  }
  out[1] = mask | kLength64Marker;
  store_be(out + 2, len, kLength64Bytes);
  return 2 + kLength64Bytes;
}

// Longest prefix of s, at most max bytes, that does not end inside a UTF-8 sequence.
size_t utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;  // continuation byte
  return n;
}

}  // namespace

size_t frame_header_size(uint64_t payload_len, bool masked) {
  const size_t base = payload_len <= kMaxLength7    ? 2
                      : payload_len <= kMaxLength16 ? 2 + kLength16Bytes
                                                    : 2 + kLength64Bytes;
  return base + (masked ? kMaskKeyBytes : 0);
}

size_t write_frame_header(uint8_t* out, Opcode op, bool fin, uint64_t payload_len) {
  return write_header(out, op, fin, payload_len, false);
}

size_t write_control_frame(uint8_t* out, Opcode op, const uint8_t* payload, size_t len) {
  if (len > kMaxControlPayload) return 0;
  const size_t h = write_header(out, op, true, len, false);
  if (len > 0) std::memcpy(out + h, payload, len);
  return h + len;
}

size_t write_close_frame(uint8_t* out, uint16_t code, std::string_view reason) {
  if (code == kCloseNoStatus) return write_header(out, Opcode::kClose, true, 0, false);
  uint8_t payload[kMaxControlPayload];
  store_be(payload, code, kCloseCodeBytes);
  const size_t n = utf8_prefix(reason, kMaxCloseReasonBytes);
  std::memcpy(payload + kCloseCodeBytes, reason.data(), n);
  return write_control_frame(out, Opcode::kClose, payload, kCloseCodeBytes + n);
}

void append_client_frame(std::vector<uint8_t>& out, Opcode op, bool fin, const uint8_t* payload, size_t len,
                         const uint8_t key[kMaskKeyBytes]) {
  uint8_t header[kMaxFrameHeaderBytes];
  size_t h = write_header(header, op, fin, len, true);
  std::memcpy(header + h, key, kMaskKeyBytes);
  h += kMaskKeyBytes;
  const size_t start = out.size();
  out.insert(out.end(), header, header + h);
  out.resize(start + h + len);
  if (len > 0) apply_mask(out.data() + start + h, payload, len, key, 0);
}

}  // namespace ringcast::ws
