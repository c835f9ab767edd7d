// Base64 (RFC 4648 section 4, the standard alphabet with '=' padding), for the
// Sec-WebSocket-Key check and the Sec-WebSocket-Accept value (RFC 6455 section 4.2.1-4.2.2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::ws {

constexpr size_t base64_encoded_size(size_t n) { return (n + 2) / 3 * 4; }

// Writes base64_encoded_size(len) characters to out (no terminator); returns that count.
size_t base64_encode(const uint8_t* in, size_t len, char* out);

// Strict decoder: length a multiple of 4, only alphabet characters, '=' only as the last one
// or two characters, and the unused bits before padding zero (the canonical form; RFC 4648
// section 3.5 lets a decoder reject the others). No whitespace.
// Returns the decoded size, or -1 if the input is invalid or does not fit in out_cap.
long base64_decode(const char* in, size_t len, uint8_t* out, size_t out_cap);

}  // namespace ringcast::ws
