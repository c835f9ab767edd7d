#include "ws/sha1.h"

#include <cstring>

namespace ringcast::ws {

namespace {

// Initial hash value H0..H4, RFC 3174 section 6.1.
constexpr uint32_t kInit[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
// Round constants K(t) for t in 0-19, 20-39, 40-59, 60-79 (RFC 3174 section 5).
constexpr uint32_t kRound[4] = {0x5A827999u, 0x6ED9EBA1u, 0x8F1BBCDCu, 0xCA62C1D6u};

inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// The logical function f(t; B, C, D) of RFC 3174 section 5, by round group.
inline uint32_t round_fn(int group, uint32_t b, uint32_t c, uint32_t d) {
  switch (group) {
    case 0:
      return (b & c) | (~b & d);
    case 2:
      return (b & c) | (b & d) | (c & d);
    default:
      return b ^ c ^ d;
  }
}

}  // namespace

Sha1::Sha1() { std::memcpy(h_, kInit, sizeof h_); }

void Sha1::compress(const uint8_t block[kBlockBytes]) {
  // Message schedule W(0..79), RFC 3174 section 6.1 step b.
  uint32_t w[80];
  for (int t = 0; t < 16; t++) w[t] = load_be32(block + 4 * t);
  for (int t = 16; t < 80; t++) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
  for (int t = 0; t < 80; t++) {
    const int group = t / 20;
    const uint32_t temp = rotl(a, 5) + round_fn(group, b, c, d) + e + w[t] + kRound[group];
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = temp;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
}

void Sha1::update(const uint8_t* data, size_t len) {
  total_bytes_ += len;
  while (len > 0) {
    const size_t take = len < kBlockBytes - block_len_ ? len : kBlockBytes - block_len_;
    std::memcpy(block_ + block_len_, data, take);
    block_len_ += take;
    data += take;
    len -= take;
    if (block_len_ == kBlockBytes) {
      compress(block_);
      block_len_ = 0;
    }
  }
}

void Sha1::finish(uint8_t digest[kSha1DigestBytes]) {
  // Padding, RFC 3174 section 4: a 1 bit, zeros to 448 mod 512, then the 64-bit length.
  constexpr size_t kLengthBytes = 8;
  const uint64_t total_bits = total_bytes_ * 8;
  block_[block_len_++] = 0x80;
  if (block_len_ > kBlockBytes - kLengthBytes) {
    std::memset(block_ + block_len_, 0, kBlockBytes - block_len_);
    compress(block_);
    block_len_ = 0;
  }
  std::memset(block_ + block_len_, 0, kBlockBytes - kLengthBytes - block_len_);
  store_be32(block_ + 56, uint32_t(total_bits >> 32));
  store_be32(block_ + 60, uint32_t(total_bits));
  compress(block_);
  for (int i = 0; i < 5; i++) store_be32(digest + 4 * i, h_[i]);
}

void sha1(const uint8_t* data, size_t len, uint8_t digest[kSha1DigestBytes]) {
  Sha1 hasher;
  hasher.update(data, len);
  hasher.finish(digest);
}

}  // namespace ringcast::ws
