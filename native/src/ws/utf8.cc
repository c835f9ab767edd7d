#include "ws/utf8.h"

#include <cstring>

namespace ringcast::ws {

namespace {

constexpr uint8_t kContLo = 0x80;
constexpr uint8_t kContHi = 0xBF;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

}  // namespace

bool Utf8Validator::feed_byte(uint8_t b) {
  if (remaining_ > 0) {
    if (b < next_lo_ || b > next_hi_) return false;
    remaining_--;
    next_lo_ = kContLo;
    next_hi_ = kContHi;
    return true;
  }
  if (b < 0x80) return true;
  // Lead bytes by RFC 3629 section 4: C0, C1 and F5-FF never appear; E0/F0 would be
  // overlong with a low second byte, ED would encode a surrogate, F4 beyond U+10FFFF.
  if (b >= 0xC2 && b <= 0xDF) {
    remaining_ = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    remaining_ = 2;
    if (b == 0xE0) next_lo_ = 0xA0;
    if (b == 0xED) next_hi_ = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    remaining_ = 3;
    if (b == 0xF0) next_lo_ = 0x90;
    if (b == 0xF4) next_hi_ = 0x8F;
  } else {
    return false;
  }
  return true;
}

bool Utf8Validator::feed(const uint8_t* data, size_t len) {
  if (failed_) return false;
  size_t i = 0;
  while (i < len) {
    // Chat traffic is mostly ASCII: skip 8 bytes at a time while no sequence is open.
    if (remaining_ == 0 && len - i >= 8) {
      uint64_t word;
      std::memcpy(&word, data + i, sizeof word);
      if ((word & kHighBits) == 0) {
        i += 8;
        continue;
      }
    }
    if (!feed_byte(data[i])) {
      failed_ = true;
      return false;
    }
    i++;
  }
  return true;
}

bool is_valid_utf8(const uint8_t* data, size_t len) {
  Utf8Validator v;
  return v.feed(data, len) && v.at_boundary();
}

}  // namespace ringcast::ws
