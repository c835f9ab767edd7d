// SHA-1 against RFC 3174's test vectors, base64 against RFC 4648 section 10 and round
// trips, and the accept key against RFC 6455's worked example (section 1.3).
#include <string>

#include "ws/base64.h"
#include "ws/handshake.h"
#include "ws/sha1.h"
#include "ws_test.h"

using namespace ringcast::ws;
using wstest::run;

namespace {

std::string sha1_hex(std::string_view s) {
  uint8_t d[kSha1DigestBytes];
  sha1(reinterpret_cast<const uint8_t*>(s.data()), s.size(), d);
  return wstest::to_hex(d, sizeof d);
}

std::string encode(std::string_view s) {
  std::string out(base64_encoded_size(s.size()), '\0');
  base64_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size(), out.data());
  return out;
}

// Decoded text, or "<invalid>".
std::string decode(std::string_view s) {
  std::string out(s.size(), '\0');
  const long n = base64_decode(s.data(), s.size(), reinterpret_cast<uint8_t*>(out.data()), out.size());
  return n < 0 ? "<invalid>" : out.substr(0, size_t(n));
}

void sha1_tests() {
  run("sha1 of the empty string",
      [] { EXPECT_EQ(sha1_hex(""), std::string("da39a3ee5e6b4b0d3255bfef95601890afd80709")); });
  run("sha1 of RFC 3174 test 1 'abc'",
      [] { EXPECT_EQ(sha1_hex("abc"), std::string("a9993e364706816aba3e25717850c26c9cd0d89d")); });
  run("sha1 of RFC 3174 test 2, the 448-bit message", [] {
    EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              std::string("84983e441c3bd26ebaae4aa1f95129e5e54670f1"));
  });
  run("sha1 of RFC 3174 test 3, a million 'a' fed in uneven pieces", [] {
    const std::string chunk(997, 'a');
    Sha1 h;
    size_t left = 1000000;
    while (left > 0) {
      const size_t n = left < chunk.size() ? left : chunk.size();
      h.update(reinterpret_cast<const uint8_t*>(chunk.data()), n);
      left -= n;
    }
    uint8_t d[kSha1DigestBytes];
    h.finish(d);
    EXPECT_EQ(wstest::to_hex(d, sizeof d), std::string("34aa973cd4c4daa4f61eeb2bdbad27316534016f"));
  });
  run("sha1 of RFC 3174 test 4, 80 times '01234567'", [] {
    std::string s;
    for (int i = 0; i < 80; i++) s += "01234567";
    EXPECT_EQ(sha1_hex(s), std::string("dea356a2cddd90c7a7ecedc5ebb563934f460452"));
  });
  run("sha1 of messages around the 55/56/64-byte padding edges", [] {
    // Cross-checked against coreutils sha1sum.
    EXPECT_EQ(sha1_hex(std::string(55, 'a')), std::string("c1c8bbdc22796e28c0e15163d20899b65621d65a"));
    EXPECT_EQ(sha1_hex(std::string(56, 'a')), std::string("c2db330f6083854c99d4b5bfb6e8f29f201be699"));
    EXPECT_EQ(sha1_hex(std::string(64, 'a')), std::string("0098ba824b5c16427bd7a1122a5a442a25ec644d"));
  });
}

void base64_tests() {
  run("base64 encodes the RFC 4648 section 10 vectors", [] {
    EXPECT_EQ(encode(""), std::string(""));
    EXPECT_EQ(encode("f"), std::string("Zg=="));
    EXPECT_EQ(encode("fo"), std::string("Zm8="));
    EXPECT_EQ(encode("foo"), std::string("Zm9v"));
    EXPECT_EQ(encode("foob"), std::string("Zm9vYg=="));
    EXPECT_EQ(encode("fooba"), std::string("Zm9vYmE="));
    EXPECT_EQ(encode("foobar"), std::string("Zm9vYmFy"));
  });
  run("base64 decodes the RFC 4648 section 10 vectors", [] {
    EXPECT_EQ(decode("Zg=="), std::string("f"));
    EXPECT_EQ(decode("Zm8="), std::string("fo"));
    EXPECT_EQ(decode("Zm9vYmFy"), std::string("foobar"));
    EXPECT_EQ(decode(""), std::string(""));
  });
  run("base64 round-trips every byte value at every length up to 70", [] {
    wstest::Rng rng(7);
    for (size_t len = 0; len <= 70; len++) {
      std::string raw(len, '\0');
      for (char& c : raw) c = char(rng.next());
      EXPECT_EQ(decode(encode(raw)), raw);
    }
  });
  run("base64 rejects malformed input", [] {
    for (const char* bad :
         {"Zg=", "Zg", "Z===", "Zm9v=", "Zm=v", "Zm9v\n", "Zm 9v", "Zm-v", "Zh==", "Zm9=", "====", "=Zm9"}) {
      EXPECT_EQ(decode(bad), std::string("<invalid>"));
    }
  });
  run("base64 decode refuses output that does not fit", [] {
    uint8_t out[2];
    EXPECT_EQ(base64_decode("Zm9v", 4, out, sizeof out), -1L);
  });
}

void accept_key_tests() {
  run("the accept key of RFC 6455's sample nonce", [] {
    char out[kAcceptKeyChars];
    compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    EXPECT_EQ(std::string(out, kAcceptKeyChars), std::string("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  });
}

}  // namespace

int main() {
  sha1_tests();
  base64_tests();
  accept_key_tests();
  return wstest::finish();
}
