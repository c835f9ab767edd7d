// Incremental UTF-8 validation (RFC 3629 section 4) for text messages and close reasons
// (RFC 6455 sections 5.6 and 8.1). The state survives between calls, so a code point may be
// split across chunks and across fragments; an invalid byte is reported the moment it is
// seen, which lets the frame parser fail a text message mid-fragment (RFC 6455 section 8.1).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::ws {

class Utf8Validator {
 public:
  // Returns false as soon as the bytes seen so far cannot be the start of valid UTF-8
  // (overlong forms, surrogates U+D800-DFFF, code points above U+10FFFF, stray
  // continuation bytes). Once false, the validator stays failed until reset().
  bool feed(const uint8_t* data, size_t len);

  // True when no multi-byte sequence is left open: the text so far is complete UTF-8.
  bool at_boundary() const { return remaining_ == 0 && !failed_; }

  void reset() { *this = Utf8Validator(); }

 private:
  bool feed_byte(uint8_t b);

  // Continuation bytes still expected, and the allowed range of the next one; the range
  // narrows only for the second byte of E0, ED, F0 and F4 (RFC 3629 section 4 table).
  uint8_t remaining_ = 0;
  uint8_t next_lo_ = 0x80;
  uint8_t next_hi_ = 0xBF;
  bool failed_ = false;
};

// One-shot check of a complete string.
bool is_valid_utf8(const uint8_t* data, size_t len);

}  // namespace ringcast::ws
