#include "ws/base64.h"

namespace ringcast::ws {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr int kInvalid = -1;

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return kInvalid;
}

}  // namespace

size_t base64_encode(const uint8_t* in, size_t len, char* out) {
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    const uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = kAlphabet[v & 63];
  }
  const size_t rest = len - i;
  if (rest > 0) {
    const uint32_t v = (uint32_t(in[i]) << 16) | (rest == 2 ? uint32_t(in[i + 1]) << 8 : 0);
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return o;
}

long base64_decode(const char* in, size_t len, uint8_t* out, size_t out_cap) {
  if (len % 4 != 0) return -1;
  size_t pad = 0;
  if (len > 0 && in[len - 1] == '=') pad++;
  if (len > 1 && in[len - 2] == '=') pad++;
  const size_t out_len = len / 4 * 3 - pad;
  if (out_len > out_cap) return -1;

  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    const bool last = i + 4 == len;
    const size_t data_chars = last ? 4 - pad : 4;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
      int s = 0;
      if (k < data_chars) {
        s = sextet(in[i + k]);
        if (s == kInvalid) return -1;
      }
      v = (v << 6) | uint32_t(s);
    }
    // Non-canonical: bits dropped by the padding must be zero.
    if (pad == 1 && last && (v & 0xFF) != 0) return -1;
    if (pad == 2 && last && (v & 0xFFFF) != 0) return -1;
    const size_t bytes = data_chars - 1;
    if (bytes >= 1) out[o++] = uint8_t(v >> 16);
    if (bytes >= 2) out[o++] = uint8_t(v >> 8);
    if (bytes >= 3) out[o++] = uint8_t(v);
  }
  return long(o);
}

}  // namespace ringcast::ws
