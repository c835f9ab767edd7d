// The chunked body decoder against RFC 7230 section 4.1: sizes, extensions, trailers, limits
// and every framing error. Each case is fed as the server feeds it (appended to one buffer,
// decoded in place, the gap dropped) whole, byte by byte and at random split points.
#include <string>
#include <vector>

#include "http/chunked.h"
#include "ws_test.h"

using namespace ringcast::http;
using wstest::run;
using wstest::Split;

namespace {

struct Fed {
  std::string outcome;  // "done:<body>|<rest>", "incomplete:<body>" or "error:<status>"
  const char* reason = "";
};

// As WsServer::read_body: buf = body so far + unread input; feed the unread part, drop the gap.
Fed feed(const std::string& input, Split how, uint64_t seed, ChunkedLimits limits) {
  ChunkedDecoder dec(limits);
  std::vector<uint8_t> buf;
  size_t pos = 0;
  ChunkedStep st;
  for (size_t n : wstest::chunk_sizes(input.size(), how, seed)) {
    buf.insert(buf.end(), input.begin() + long(pos), input.begin() + long(pos + n));
    pos += n;
    const size_t body = size_t(dec.body_bytes());
    st = dec.feed(buf.data() + body, buf.size() - body);
    if (st.produced > st.consumed || st.consumed > buf.size() - body) {
      wstest::report_failure(__FILE__, __LINE__, "produced/consumed out of range");
      return {"broken"};
    }
    buf.erase(buf.begin() + long(body + st.produced), buf.begin() + long(body + st.consumed));
    if (dec.body_bytes() != body + st.produced) {
      wstest::report_failure(__FILE__, __LINE__, "body_bytes() does not follow produced");
    }
    if (st.state == ChunkedState::kError) return {"error:" + std::to_string(st.status), st.reason};
    if (st.state == ChunkedState::kDone) break;
  }
  // Whatever was not fed yet follows what the decoder left unread: the next request.
  buf.insert(buf.end(), input.begin() + long(pos), input.end());
  const std::string body(buf.begin(), buf.begin() + long(dec.body_bytes()));
  const std::string rest(buf.begin() + long(dec.body_bytes()), buf.end());
  if (st.state == ChunkedState::kDone) return {"done:" + body + "|" + rest};
  return {"incomplete:" + body};
}

void expect_every_split(const std::string& input, const std::string& expected,
                        ChunkedLimits limits = {1024 * 1024}) {
  for (Split how : {Split::kWhole, Split::kBytewise, Split::kRandom}) {
    for (uint64_t seed = 1; seed <= (how == Split::kRandom ? 8u : 1u); seed++) {
      const Fed got = feed(input, how, seed, limits);
      if (got.outcome != expected) {
        wstest::report_failure(__FILE__, __LINE__,
                               std::string(wstest::split_name(how)) + " seed " + std::to_string(seed) +
                                   ": got " + got.outcome + " (" + got.reason + "), expected " + expected);
      }
    }
  }
}

struct Case {
  const char* name;
  std::string input;
  std::string expected;
};

const std::string k70(70, 'x');

const Case kCases[] = {
    {"one chunk", "5\r\nhello\r\n0\r\n\r\n", "done:hello|"},
    {"three chunks", "3\r\nabc\r\n1\r\nd\r\n2\r\nef\r\n0\r\n\r\n", "done:abcdef|"},
    {"an empty body: only the last chunk", "0\r\n\r\n", "done:|"},
    {"hex sizes in both cases and with leading zeros", "a\r\n0123456789\r\n0A\r\n0123456789\r\n0000\r\n\r\n",
     "done:01234567890123456789|"},
    {"a chunk of 70 bytes (size 46)", "46\r\n" + k70 + "\r\n0\r\n\r\n", "done:" + k70 + "|"},
    {"chunk data holding CRLF and digits", "5\r\n\r\n0\r\n\r\n0\r\n\r\n", "done:\r\n0\r\n|"},
    {"chunk extensions are skipped", "3;name=value;flag\r\nabc\r\n0;last\r\n\r\n", "done:abc|"},
    {"a quoted extension value and BWS before it", "3 ; q=\"a;b\"\r\nabc\r\n0\r\n\r\n", "done:abc|"},
    {"trailer fields are read and ignored", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: two\r\n\r\n", "done:abc|"},
    {"the bytes after the body stay for the next request", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
     "done:abc|GET / HTTP/1.1\r\n"},
    {"a body without its final CRLF is incomplete", "3\r\nabc\r\n0\r\n", "incomplete:abc"},
    {"a chunk cut short is incomplete", "5\r\nhel", "incomplete:hel"},
    {"no size", "\r\nabc\r\n0\r\n\r\n", "error:400"},
    {"a size that is not hex", "g\r\nabc\r\n0\r\n\r\n", "error:400"},
    {"a negative size", "-3\r\nabc\r\n0\r\n\r\n", "error:400"},
    {"a size with a 0x prefix", "0x3\r\nabc\r\n0\r\n\r\n", "error:400"},
    {"a size line ended by a bare LF", "3\nabc\r\n0\r\n\r\n", "error:400"},
    {"a size line with CR not followed by LF", "3\rxabc\r\n0\r\n\r\n", "error:400"},
    {"chunk data longer than its size", "3\r\nabcd\r\n0\r\n\r\n", "error:400"},
    {"chunk data ended by a bare LF", "3\r\nabc\n0\r\n\r\n", "error:400"},
    {"a control character in an extension", "3;a\x01\r\nabc\r\n0\r\n\r\n", "error:400"},
    {"a trailer line ended by a bare LF", "0\r\nX-A: 1\n\r\n", "error:400"},
    {"a final CR not followed by LF", "0\r\n\rx", "error:400"},
    {"a size over the body limit", "100001\r\n", "error:413"},
    {"a size beyond 64 bits", "fffffffffffffffffffff\r\n", "error:413"},
};

void outcome_tests() {
  for (const Case& c : kCases) {
    run(c.name, [&] { expect_every_split(c.input, c.expected); });
  }
}

void limit_tests() {
  const ChunkedLimits small{10};
  run("a body exactly at the limit",
      [&] { expect_every_split("6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", "done:abcdefghij|", small); });
  run("chunks that together pass the limit: 413 at the size that would",
      [&] { expect_every_split("6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n", "error:413", small); });
  run("a size line longer than max_line_bytes (extensions included)", [] {
    ChunkedLimits l{1024};
    l.max_line_bytes = 16;
    expect_every_split("3;" + std::string(13, 'e') + "\r\nabc\r\n0\r\n\r\n", "done:abc|", l);
    expect_every_split("3;" + std::string(14, 'e') + "\r\nabc\r\n0\r\n\r\n", "error:400", l);
  });
  run("leading zeros count toward the size line limit", [] {
    ChunkedLimits l{1024};
    l.max_line_bytes = 8;
    expect_every_split(std::string(20, '0') + "3\r\nabc\r\n0\r\n\r\n", "error:400", l);
  });
  run("trailers over max_trailer_bytes: 431", [] {
    ChunkedLimits l{1024};
    l.max_trailer_bytes = 12;
    expect_every_split("0\r\nX-A: 123\r\n\r\n", "done:|", l);
    expect_every_split("0\r\nX-A: 123456\r\n\r\n", "error:431", l);
  });
}

void api_tests() {
  run("done and error are sticky: later input is not read", [] {
    ChunkedDecoder dec({1024});
    std::string in = "0\r\n\r\nmore";
    std::vector<uint8_t> buf(in.begin(), in.end());
    ChunkedStep st = dec.feed(buf.data(), buf.size());
    EXPECT(st.state == ChunkedState::kDone);
    EXPECT_EQ(st.consumed, size_t(5));
    st = dec.feed(buf.data() + 5, 4);
    EXPECT(st.state == ChunkedState::kDone);
    EXPECT_EQ(st.consumed, size_t(0));
    ChunkedDecoder bad({1024});
    std::vector<uint8_t> junk{'z', '\r', '\n'};
    EXPECT(bad.feed(junk.data(), junk.size()).state == ChunkedState::kError);
    const ChunkedStep again = bad.feed(junk.data(), junk.size());
    EXPECT(again.state == ChunkedState::kError);
    EXPECT_EQ(again.status, 400);
    EXPECT_EQ(again.consumed, size_t(0));
  });
  run("the error carries a reason text", [] {
    ChunkedDecoder dec({1024});
    std::vector<uint8_t> in{'3', '\n'};
    const ChunkedStep st = dec.feed(in.data(), in.size());
    EXPECT_EQ(std::string(st.reason), std::string("invalid chunk size"));
  });
}

}  // namespace

int main() {
  outcome_tests();
  limit_tests();
  api_tests();
  return wstest::finish();
}
