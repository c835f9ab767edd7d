// Frame encoding (RFC 6455 section 5.2) in hex, round trips through the parser, the
// masking helper at every offset and the UTF-8 validator on its own.
#include <string>
#include <vector>

#include "ws/frame_parser.h"
#include "ws/frame_writer.h"
#include "ws/mask.h"
#include "ws/utf8.h"
#include "ws_frame_harness.h"
#include "ws_test.h"

using namespace ringcast::ws;
using wstest::hex;
using wstest::run;
using wstest::to_hex;

namespace {

std::string header_hex(Opcode op, bool fin, uint64_t len) {
  uint8_t out[kMaxServerHeaderBytes];
  const size_t n = write_frame_header(out, op, fin, len);
  EXPECT_EQ(n, frame_header_size(len, false));
  return to_hex(out, n);
}

void header_tests() {
  run("server headers in the 7-bit form", [] {
    EXPECT_EQ(header_hex(Opcode::kText, true, 0), std::string("8100"));
    EXPECT_EQ(header_hex(Opcode::kText, true, 5), std::string("8105"));
    EXPECT_EQ(header_hex(Opcode::kBinary, true, 125), std::string("827d"));
    EXPECT_EQ(header_hex(Opcode::kText, false, 3), std::string("0103"));
    EXPECT_EQ(header_hex(Opcode::kContinuation, true, 2), std::string("8002"));
  });
  run("server headers in the 16-bit form", [] {
    EXPECT_EQ(header_hex(Opcode::kBinary, true, 126), std::string("827e007e"));
    EXPECT_EQ(header_hex(Opcode::kBinary, true, 256), std::string("827e0100"));
    EXPECT_EQ(header_hex(Opcode::kBinary, true, 65535), std::string("827effff"));
  });
  run("server headers in the 64-bit form", [] {
    EXPECT_EQ(header_hex(Opcode::kBinary, true, 65536), std::string("827f0000000000010000"));
    EXPECT_EQ(header_hex(Opcode::kBinary, true, uint64_t(1) << 40), std::string("827f0000010000000000"));
  });
  run("masked header sizes", [] {
    EXPECT_EQ(frame_header_size(125, true), size_t(6));
    EXPECT_EQ(frame_header_size(126, true), size_t(8));
    EXPECT_EQ(frame_header_size(65536, true), size_t(14));
  });
}

void control_tests() {
  uint8_t out[kMaxControlFrameBytes];
  run("a pong echoes the ping payload", [&] {
    const std::vector<uint8_t> body = hex("48656c6c6f");
    const size_t n = write_pong_frame(out, body.data(), body.size());
    EXPECT_EQ(to_hex(out, n), std::string("8a0548656c6c6f"));
  });
  run("an empty pong",
      [&] { EXPECT_EQ(to_hex(out, write_pong_frame(out, nullptr, 0)), std::string("8a00")); });
  run("a control payload over 125 bytes is refused", [&] {
    const std::vector<uint8_t> body(126, 0);
    EXPECT_EQ(write_control_frame(out, Opcode::kPing, body.data(), body.size()), size_t(0));
  });
  run("a close frame with code and reason", [&] {
    EXPECT_EQ(to_hex(out, write_close_frame(out, kCloseNormal, "bye")), std::string("880503e8627965"));
  });
  run("a close frame with 1009 and no reason", [&] {
    EXPECT_EQ(to_hex(out, write_close_frame(out, kCloseMessageTooBig, "")), std::string("880203f1"));
  });
  run("a close with 1005 goes out empty", [&] {
    EXPECT_EQ(to_hex(out, write_close_frame(out, kCloseNoStatus, "ignored")), std::string("8800"));
  });
  run("a long reason is cut to 123 bytes at a character boundary", [&] {
    // 122 ASCII bytes then a 3-byte character: the character does not fit and is dropped.
    const std::string reason = std::string(122, 'r') + "\xe2\x82\xac" + "tail";
    const size_t n = write_close_frame(out, kCloseGoingAway, reason);
    EXPECT_EQ(n, size_t(2 + 2 + 122));
    EXPECT(is_valid_utf8(out + 4, n - 4));
  });
}

// What the server writes, masked as a client would send it, must parse back to itself.
void round_trip_tests() {
  const uint8_t key[kMaskKeyBytes] = {0x12, 0x34, 0x56, 0x78};
  run("client frames round-trip through the parser", [&] {
    std::vector<uint8_t> wire;
    const std::string text = "caf\xc3\xa9";
    append_client_frame(wire, Opcode::kText, true, reinterpret_cast<const uint8_t*>(text.data()), text.size(),
                        key);
    const std::vector<uint8_t> ping = hex("0102");
    append_client_frame(wire, Opcode::kPing, true, ping.data(), ping.size(), key);
    uint8_t close[kMaxControlFrameBytes];
    const size_t close_len = write_close_frame(close, 4000, "done");
    // Re-mask the server close's payload as a client close.
    append_client_frame(wire, Opcode::kClose, true, close + 2, close_len - 2, key);
    wstest::expect_events_every_split(wire, {"text:" + text, "ping:0102", "close:4000:done"});
  });
}

void mask_tests() {
  run("apply_mask matches the byte-wise definition at every offset and length", [] {
    const uint8_t key[kMaskKeyBytes] = {0xde, 0xad, 0xbe, 0xef};
    std::vector<uint8_t> src(67);
    for (size_t i = 0; i < src.size(); i++) src[i] = uint8_t(i * 31);
    for (uint64_t offset = 0; offset < 8; offset++) {
      for (size_t len = 0; len <= src.size(); len++) {
        std::vector<uint8_t> dst(len);
        apply_mask(dst.data(), src.data(), len, key, offset);
        for (size_t i = 0; i < len; i++) {
          if (dst[i] != (src[i] ^ key[(offset + i) % 4])) {
            EXPECT(false);
            return;
          }
        }
      }
    }
  });
  run("apply_mask works in place", [] {
    const uint8_t key[kMaskKeyBytes] = {1, 2, 3, 4};
    std::vector<uint8_t> buf = hex("0000000000000000000000");
    apply_mask(buf.data(), buf.data(), buf.size(), key, 1);
    EXPECT_EQ(to_hex(buf.data(), buf.size()), std::string("0203040102030401020304"));
  });
}

bool utf8_ok(const std::string& hex_bytes) {
  const std::vector<uint8_t> b = hex(hex_bytes);
  return is_valid_utf8(b.data(), b.size());
}

void utf8_tests() {
  run("UTF-8 boundaries of RFC 3629 section 4", [] {
    EXPECT(utf8_ok(""));
    EXPECT(utf8_ok("7f"));
    EXPECT(utf8_ok("c280"));
    EXPECT(utf8_ok("dfbf"));
    EXPECT(utf8_ok("e0a080"));
    EXPECT(utf8_ok("ed9fbf"));  // U+D7FF, just below the surrogates
    EXPECT(utf8_ok("ee8080"));  // U+E000, just above
    EXPECT(utf8_ok("f0908080"));
    EXPECT(utf8_ok("f48fbfbf"));  // U+10FFFF
    EXPECT(!utf8_ok("80"));
    EXPECT(!utf8_ok("c1bf"));      // overlong
    EXPECT(!utf8_ok("e09fbf"));    // overlong
    EXPECT(!utf8_ok("eda080"));    // U+D800
    EXPECT(!utf8_ok("edbfbf"));    // U+DFFF
    EXPECT(!utf8_ok("f08fbfbf"));  // overlong
    EXPECT(!utf8_ok("f4908080"));  // above U+10FFFF
    EXPECT(!utf8_ok("f5808080"));
    EXPECT(!utf8_ok("ff"));
    EXPECT(!utf8_ok("e282"));  // truncated
    EXPECT(!utf8_ok("c241"));  // lead byte then ASCII
  });
  run("the validator fails on the first bad byte, even mid-sequence", [] {
    Utf8Validator v;
    const std::vector<uint8_t> a = hex("4142434445464748 e2");
    EXPECT(v.feed(a.data(), a.size()));
    EXPECT(!v.at_boundary());
    const std::vector<uint8_t> b = hex("41");
    EXPECT(!v.feed(b.data(), b.size()));
    const std::vector<uint8_t> c = hex("41");
    EXPECT(!v.feed(c.data(), c.size()));  // stays failed
  });
  run("the ASCII fast path does not skip a bad byte in a long run", [] {
    for (size_t at = 0; at < 24; at++) {
      std::vector<uint8_t> s(24, 'a');
      s[at] = 0xff;
      EXPECT(!is_valid_utf8(s.data(), s.size()));
    }
  });
}

}  // namespace

int main() {
  header_tests();
  control_tests();
  round_trip_tests();
  mask_tests();
  utf8_tests();
  return wstest::finish();
}
