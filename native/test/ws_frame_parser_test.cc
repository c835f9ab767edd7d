// The frame parser against RFC 6455 sections 5 and 7, written as raw client frames in hex.
// Every case runs whole, byte by byte and at random split points. Most frames use the mask
// key 00000000 so the payload hex reads as plain ASCII; a few use real keys.
#include <string>
#include <vector>

#include "ws/frame_parser.h"
#include "ws/frame_writer.h"
#include "ws_frame_harness.h"
#include "ws_test.h"

using namespace ringcast::ws;
using wstest::hex;
using wstest::run;

namespace {

struct Case {
  const char* name;
  const char* frames;    // hex
  const char* expected;  // events separated by " | ", "" for none
  uint64_t max_message = kDefaultMaxMessageBytes;
};

std::vector<std::string> split_events(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t bar = s.find(" | ");
    out.emplace_back(s.substr(0, bar));
    if (bar == std::string_view::npos) break;
    s.remove_prefix(bar + 3);
  }
  return out;
}

const Case kCases[] = {
    // Section 5.7 examples (masked forms, and masked versions of the unmasked ones).
    {"a single-frame masked text message (5.7)", "8185 37fa213d 7f9f4d5158", "text:Hello"},
    {"a fragmented text message (5.7)", "0183 00000000 48656c | 8082 00000000 6c6f", "text:Hello"},
    {"a masked ping with a body (5.7)", "8985 37fa213d 7f9f4d5158", "ping:48656c6c6f"},
    {"a masked pong with a body (5.7)", "8a85 37fa213d 7f9f4d5158", "pong:48656c6c6f"},
    {"fragments with different mask keys", "0183 37fa213d 7f9f4d | 8082 01020304 6d6d", "text:Hello"},
    {"an empty text message", "8180 00000000", "text:"},
    {"an empty binary message", "8280 00000000", "binary:"},
    {"an empty ping and an empty pong", "8980 00000000 8a80 00000000", "ping: | pong:"},
    {"empty fragments make an empty message", "0180 00000000 0080 00000000 8080 00000000", "text:"},
    {"two messages in one chunk", "8181 00000000 41 8281 00000000 42", "text:A | binary:42"},
    {"a binary message in three fragments", "0281 00000000 01 0081 00000000 02 8081 00000000 03",
     "binary:010203"},
    {"a message after a fragmented one", "0181 00000000 41 8081 00000000 42 8181 00000000 43",
     "text:AB | text:C"},

    // Section 5.4-5.5: control frames may be injected between fragments.
    {"a ping between fragments", "0181 00000000 41 8980 00000000 8081 00000000 42", "ping: | text:AB"},
    {"a pong between fragments", "0281 00000000 01 8a81 00000000 09 8081 00000000 02",
     "pong:09 | binary:0102"},
    {"a close between fragments ends the stream", "0181 00000000 41 8882 00000000 03e8", "close:1000:"},
    {"a 125-byte ping is the largest allowed",
     "89fd 00000000 "
     "41414141414141414141414141414141414141414141414141414141414141414141414141414141"
     "41414141414141414141414141414141414141414141414141414141414141414141414141414141"
     "41414141414141414141414141414141414141414141414141414141414141414141414141414141"
     "4141414141",
     "ping:"
     "41414141414141414141414141414141414141414141414141414141414141414141414141414141"
     "41414141414141414141414141414141414141414141414141414141414141414141414141414141"
     "41414141414141414141414141414141414141414141414141414141414141414141414141414141"
     "4141414141"},

    // Section 5.1-5.2 protocol errors: 1002.
    {"an unmasked client frame", "8105 48656c6c6f", "error:1002"},
    {"RSV1 without an extension", "c180 00000000", "error:1002"},
    {"RSV2", "a180 00000000", "error:1002"},
    {"RSV3", "9180 00000000", "error:1002"},
    {"RSV bits on a continuation", "0181 00000000 41 c081 00000000 42", "error:1002"},
    {"reserved opcode 3", "8380 00000000", "error:1002"},
    {"reserved opcode 4", "8480 00000000", "error:1002"},
    {"reserved opcode 5", "8580 00000000", "error:1002"},
    {"reserved opcode 6", "8680 00000000", "error:1002"},
    {"reserved opcode 7", "8780 00000000", "error:1002"},
    {"reserved opcode 0xB", "8b80 00000000", "error:1002"},
    {"reserved opcode 0xC", "8c80 00000000", "error:1002"},
    {"reserved opcode 0xD", "8d80 00000000", "error:1002"},
    {"reserved opcode 0xE", "8e80 00000000", "error:1002"},
    {"reserved opcode 0xF", "8f80 00000000", "error:1002"},
    {"a reserved opcode after a good message", "8181 00000000 41 8380 00000000", "text:A | error:1002"},
    {"a continuation without a message", "8081 00000000 41", "error:1002"},
    {"a non-final continuation without a message", "0081 00000000 41", "error:1002"},
    {"a text frame inside a fragmented message", "0181 00000000 41 8181 00000000 42", "error:1002"},
    {"a binary frame inside a fragmented message", "0181 00000000 41 0281 00000000 42", "error:1002"},
    {"a fragmented ping", "0980 00000000", "error:1002"},
    {"a fragmented close", "0880 00000000", "error:1002"},
    {"a ping of 126 bytes (16-bit length)", "89fe 007e", "error:1002"},
    {"a pong with a 64-bit length", "8aff 0000000000000080", "error:1002"},
    {"a 64-bit length with the high bit set", "82ff 8000000000000000 00000000", "error:1002"},
    {"a 16-bit length used for 5 bytes", "82fe 0005 00000000 0102030405", "error:1002"},
    {"a 64-bit length used for 65535 bytes", "82ff 000000000000ffff", "error:1002"},

    // Section 7.4.1, 1009: refused from the header, before the payload arrives.
    {"a message over the limit", "8185 00000000 48656c6c6f", "error:1009", 4},
    {"a message exactly at the limit", "8184 00000000 48656c6c", "text:Hell", 4},
    {"fragments summing over the limit", "0183 00000000 48656c 8082 00000000 6c6f", "error:1009", 4},
    {"control frames do not count toward the limit",
     "0182 00000000 4142 8983 00000000 010203 8082 00000000 4344", "ping:010203 | text:ABCD", 4},
    {"a 2^40-byte announcement fails before its mask key", "82ff 0000010000000000", "error:1009"},

    // Section 8.1: text must be UTF-8, checked as it arrives -> 1007.
    {"a text frame with an invalid byte", "8181 00000000 ff", "error:1007"},
    {"an invalid byte mid-fragment fails before the message ends", "0182 00000000 41ff", "error:1007"},
    {"an invalid byte fails before the frame ends", "8185 00000000 41ff", "error:1007"},
    {"a code point split across fragments", "0182 00000000 41e2 8082 00000000 82ac", "text:A\xe2\x82\xac"},
    {"a 4-byte code point split three ways", "0181 00000000 f0 0082 00000000 9f98 8081 00000000 80",
     "text:\xf0\x9f\x98\x80"},
    {"a text message ending inside a code point", "8182 00000000 41e2", "error:1007"},
    {"a last fragment ending inside a code point", "0181 00000000 41 8081 00000000 e2", "error:1007"},
    {"an overlong encoding", "8182 00000000 c0af", "error:1007"},
    {"an overlong 3-byte encoding", "8183 00000000 e08080", "error:1007"},
    {"a UTF-16 surrogate", "8183 00000000 eda080", "error:1007"},
    {"a code point above U+10FFFF", "8184 00000000 f4908080", "error:1007"},
    {"a stray continuation byte", "8181 00000000 80", "error:1007"},
    {"U+10FFFF and U+FFFF are valid", "8187 00000000 f48fbfbfefbfbf", "text:\xf4\x8f\xbf\xbf\xef\xbf\xbf"},
    {"binary messages are not UTF-8 checked", "8282 00000000 ffc0", "binary:ffc0"},
    {"invalid UTF-8 in a ping is fine (not text)", "8981 00000000 ff", "ping:ff"},

    // Sections 5.5.1 and 7.4: close frames.
    {"an empty close reports 1005", "8880 00000000", "close:1005:"},
    {"a close with code 1000", "8882 00000000 03e8", "close:1000:"},
    {"a close with a reason", "8885 00000000 03e8 627965", "close:1000:bye"},
    {"a masked close with a reason", "8885 01020304 02eb 617d64", "close:1001:bye"},
    {"a close with a UTF-8 reason", "8886 00000000 03e8 41e282ac", "close:1000:A\xe2\x82\xac"},
    {"a close of 1 byte", "8881 00000000 03", "error:1002"},
    {"a close whose reason is not UTF-8", "8883 00000000 03e8 ff", "error:1007"},
    {"a close whose reason ends inside a code point", "8884 00000000 03e8 41e2", "error:1007"},
    {"input after a close is ignored", "8880 00000000 8181 00000000 41", "close:1005:"},
    {"input after an error is ignored", "8380 00000000 8181 00000000 41", "error:1002"},
    {"close code 1001", "8882 00000000 03e9", "close:1001:"},
    {"close code 1002", "8882 00000000 03ea", "close:1002:"},
    {"close code 1003", "8882 00000000 03eb", "close:1003:"},
    {"close code 1007", "8882 00000000 03ef", "close:1007:"},
    {"close code 1008", "8882 00000000 03f0", "close:1008:"},
    {"close code 1009", "8882 00000000 03f1", "close:1009:"},
    {"close code 1010", "8882 00000000 03f2", "close:1010:"},
    {"close code 1011", "8882 00000000 03f3", "close:1011:"},
    {"close code 1012", "8882 00000000 03f4", "close:1012:"},
    {"close code 1013", "8882 00000000 03f5", "close:1013:"},
    {"close code 1014", "8882 00000000 03f6", "close:1014:"},
    {"close code 3000", "8882 00000000 0bb8", "close:3000:"},
    {"close code 4999", "8882 00000000 1387", "close:4999:"},
    {"close code 0", "8882 00000000 0000", "error:1002"},
    {"close code 999", "8882 00000000 03e7", "error:1002"},
    {"close code 1004 (reserved)", "8882 00000000 03ec", "error:1002"},
    {"close code 1005 (must not be sent)", "8882 00000000 03ed", "error:1002"},
    {"close code 1006 (must not be sent)", "8882 00000000 03ee", "error:1002"},
    {"close code 1015 (must not be sent)", "8882 00000000 03f7", "error:1002"},
    {"close code 1016 (reserved)", "8882 00000000 03f8", "error:1002"},
    {"close code 2999 (reserved)", "8882 00000000 0bb7", "error:1002"},
    {"close code 5000", "8882 00000000 1388", "error:1002"},
    {"close code 65535", "8882 00000000 ffff", "error:1002"},
};

// With permessage-deflate negotiated (RFC 7692 section 6): RSV1 on the first frame of a data
// message marks it compressed; the parser hands the deflated bytes on (no UTF-8 check: that
// is done once inflated) and fails RSV1 anywhere else. f248cdc9c90700 is "Hello" (7.2.3.1).
const Case kDeflateCases[] = {
    {"a compressed text message", "c187 00000000 f248cdc9c90700", "deflate-text:f248cdc9c90700"},
    {"a compressed text message in two fragments", "4183 00000000 f248cd | 8084 00000000 c9c90700",
     "deflate-text:f248cdc9c90700"},
    {"a ping between compressed fragments", "4183 00000000 f248cd 8980 00000000 8084 00000000 c9c90700",
     "ping: | deflate-text:f248cdc9c90700"},
    {"compressed text is not checked as UTF-8 before inflation", "c181 00000000 ff", "deflate-text:ff"},
    {"a compressed binary message", "c281 00000000 ff", "deflate-binary:ff"},
    {"plain and compressed messages mixed", "8181 00000000 41 c187 00000000 f248cdc9c90700",
     "text:A | deflate-text:f248cdc9c90700"},
    {"plain text is still checked as UTF-8", "8181 00000000 ff", "error:1007"},
    {"RSV1 on a continuation frame", "4181 00000000 41 c081 00000000 42", "error:1002"},
    {"RSV1 on a continuation of a plain message", "0181 00000000 41 c081 00000000 42", "error:1002"},
    {"RSV1 on a ping", "c980 00000000", "error:1002"},
    {"RSV1 on a close", "c882 00000000 03e8", "error:1002"},
    {"RSV2 is still refused", "a180 00000000", "error:1002"},
    {"the compressed size is held to the limit", "c187 00000000 f248cdc9c90700", "error:1009", 6},
};

void table_tests() {
  for (const Case& c : kDeflateCases) {
    run(c.name, [&] {
      FrameLimits limits;
      limits.max_message_bytes = c.max_message;
      wstest::expect_events_every_split(hex(c.frames), split_events(c.expected), limits, true);
    });
  }
  for (const Case& c : kCases) {
    run(c.name, [&] {
      FrameLimits limits;
      limits.max_message_bytes = c.max_message;
      wstest::expect_events_every_split(hex(c.frames), split_events(c.expected), limits);
    });
  }
}

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; i++) p[i] = uint8_t(i * 7 + 3);
  return p;
}

// Lengths at each boundary of the 7-, 16- and 64-bit forms (section 5.2).
void length_form_tests() {
  const uint8_t key[kMaskKeyBytes] = {0x9a, 0x01, 0xfe, 0x55};
  for (size_t n : {size_t(125), size_t(126), size_t(127), size_t(65535), size_t(65536), size_t(70001)}) {
    run("a binary message of " + std::to_string(n) + " bytes", [&] {
      const std::vector<uint8_t> payload = pattern(n);
      std::vector<uint8_t> wire;
      append_client_frame(wire, Opcode::kBinary, true, payload.data(), n, key);
      EXPECT_EQ(wire.size(), n + frame_header_size(n, true));
      wstest::expect_events_every_split(wire, {"binary:" + wstest::to_hex(payload.data(), n)});
    });
  }
  run("a 70001-byte text message in fragments of odd sizes", [&] {
    std::vector<uint8_t> text(70001);
    for (size_t i = 0; i < text.size(); i++) text[i] = uint8_t('a' + i % 26);
    std::vector<uint8_t> wire;
    const size_t cuts[] = {0, 1, 126, 65536 + 200, text.size()};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++) {
      const Opcode op = i == 0 ? Opcode::kText : Opcode::kContinuation;
      const bool fin = i + 2 == sizeof cuts / sizeof cuts[0];
      append_client_frame(wire, op, fin, text.data() + cuts[i], cuts[i + 1] - cuts[i], key);
    }
    wstest::expect_events_every_split(wire, {"text:" + std::string(text.begin(), text.end())});
  });
}

void buffer_ownership_tests() {
  run("an unfragmented frame inside one chunk is delivered in place", [] {
    const auto r = wstest::feed_frames(hex("8185 37fa213d 7f9f4d5158"), wstest::Split::kWhole, 1);
    EXPECT_EQ(r.in_place, 1);
  });
  run("a fragmented message is assembled in the caller's buffer", [] {
    const auto r =
        wstest::feed_frames(hex("0183 00000000 48656c 8082 00000000 6c6f"), wstest::Split::kWhole, 1);
    EXPECT_EQ(r.in_place, 0);
  });
  run("a frame split across chunks is assembled in the caller's buffer", [] {
    const auto r = wstest::feed_frames(hex("8185 37fa213d 7f9f4d5158"), wstest::Split::kBytewise, 1);
    EXPECT_EQ(r.in_place, 0);
    EXPECT_EQ(r.events.size(), size_t(1));
  });
  run("a control frame inside one chunk is delivered in place, also between fragments", [] {
    // ping "Hi", then a text message in two fragments with a pong "ok" between them
    const auto r =
        wstest::feed_frames(hex("8982 00000000 4869 0181 00000000 41 8a82 00000000 6f6b 8081 00000000 42"),
                            wstest::Split::kWhole, 1);
    EXPECT_EQ(r.in_place, 2);
    EXPECT_EQ(r.events.size(), size_t(3));
  });
  run("a control frame split across chunks is gathered in the parser, not in place", [] {
    const auto r = wstest::feed_frames(hex("8982 37fa213d 7f93"), wstest::Split::kBytewise, 1);
    EXPECT_EQ(r.in_place, 0);
    EXPECT_EQ(r.events.size(), size_t(1));
  });
  run("a close frame inside one chunk is read in place: code and reason", [] {
    FrameParser p;
    std::vector<uint8_t> message;
    std::vector<uint8_t> close = hex("8884 00000000 03e8 6f6b");  // 1000 "ok"
    const FrameStep s = p.parse(close.data(), close.size(), message);
    EXPECT_EQ(s.event.code, 1000);
    EXPECT_EQ(std::string(s.event.text()), std::string("ok"));
    EXPECT(s.event.data == close.data() + 8);
    EXPECT(p.stopped());
  });
  run("in_message() is true only while a fragmented message is open", [] {
    FrameParser p;
    std::vector<uint8_t> message;
    std::vector<uint8_t> first = hex("0181 00000000 41");
    std::vector<uint8_t> last = hex("8081 00000000 42");
    EXPECT(!p.in_message());
    p.parse(first.data(), first.size(), message);
    EXPECT(p.in_message());
    const FrameStep s = p.parse(last.data(), last.size(), message);
    EXPECT(!p.in_message());
    EXPECT_EQ(std::string(s.event.text()), std::string("AB"));
    EXPECT(s.event.data == message.data());
  });
  run("stopped() after a close, and reset() starts over", [] {
    FrameParser p;
    std::vector<uint8_t> message;
    std::vector<uint8_t> close = hex("8880 00000000");
    p.parse(close.data(), close.size(), message);
    EXPECT(p.stopped());
    p.reset();
    std::vector<uint8_t> text = hex("8181 00000000 41");
    EXPECT_EQ(wstest::describe(p.parse(text.data(), text.size(), message).event), std::string("text:A"));
  });
  run("the error event carries a reason text", [] {
    FrameParser p;
    std::vector<uint8_t> message;
    std::vector<uint8_t> bad = hex("8105 48656c6c6f");
    const FrameStep s = p.parse(bad.data(), bad.size(), message);
    EXPECT_EQ(std::string(s.event.reason), std::string("unmasked client frame"));
  });
}

}  // namespace

int main() {
  table_tests();
  length_form_tests();
  buffer_ownership_tests();
  return wstest::finish();
}
