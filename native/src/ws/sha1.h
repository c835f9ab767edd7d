// SHA-1 (RFC 3174), only for the Sec-WebSocket-Accept key of RFC 6455 section 4.2.2.
// SHA-1 is broken for collision resistance; the handshake uses it as a fixed, public
// transform, not for security, so that does not matter here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::ws {

constexpr size_t kSha1DigestBytes = 20;

// Incremental hasher: update() any number of times, then finish() once.
class Sha1 {
 public:
  Sha1();
  void update(const uint8_t* data, size_t len);
  void finish(uint8_t digest[kSha1DigestBytes]);

 private:
  static constexpr size_t kBlockBytes = 64;  // 512-bit blocks (RFC 3174 section 4)
  void compress(const uint8_t block[kBlockBytes]);

  uint32_t h_[5];
  uint8_t block_[kBlockBytes];
  size_t block_len_ = 0;
  uint64_t total_bytes_ = 0;
};

// One-shot convenience.
void sha1(const uint8_t* data, size_t len, uint8_t digest[kSha1DigestBytes]);

}  // namespace ringcast::ws
