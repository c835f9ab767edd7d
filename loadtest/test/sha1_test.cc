#include <string>

#include "check.h"
#include "sha1.h"

using namespace loadgen;

static std::string hex_sha1(const std::string& s) {
  uint8_t d[20];
  sha1(s.data(), s.size(), d);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) { out += digits[b >> 4]; out += digits[b & 15]; }
  return out;
}

// FIPS 180-2 appendix A vectors, plus lengths either side of the 55/56-byte padding boundary.
TEST(sha1_matches_the_published_vectors) {
  CHECK(hex_sha1("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex_sha1("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(hex_sha1(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(sha1_pads_messages_that_end_near_a_block_boundary) {
  CHECK(hex_sha1(std::string(55, 'a')) == "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  CHECK(hex_sha1(std::string(56, 'a')) == "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  CHECK(hex_sha1(std::string(64, 'a')) == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

TEST(base64_pads_to_a_multiple_of_four) {
  const uint8_t f[] = {'f', 'o', 'o', 'b', 'a', 'r'};
  CHECK(base64_encode(f, 0) == "");
  CHECK(base64_encode(f, 1) == "Zg==");
  CHECK(base64_encode(f, 2) == "Zm8=");
  CHECK(base64_encode(f, 3) == "Zm9v");
  CHECK(base64_encode(f, 6) == "Zm9vYmFy");
}

// RFC 6455 section 1.3 gives this key and its accept value.
TEST(accept_key_matches_the_rfc_example) {
  CHECK(websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
