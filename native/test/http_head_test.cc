// The HTTP/1.1 request head parser against RFC 7230: good heads, limits, syntax errors,
// Content-Length and Transfer-Encoding, keep-alive. Each outcome case runs whole, byte by
// byte and at random split points.
#include <string>

#include "http/head.h"
#include "http/tokens.h"
#include "http_harness.h"
#include "ws_test.h"

using namespace ringcast::http;
using wstest::run;
using wstest::Split;

namespace {

struct Case {
  const char* name;
  std::string request;
  const char* expected;
};

std::string with_fields(const std::string& fields, const char* version = "HTTP/1.1") {
  return std::string("GET /ws HTTP/1.1\r\n").replace(8, 8, version) + fields + "\r\n";
}
const std::string kHost = "Host: example.com\r\n";

const Case kCases[] = {
    {"a minimal HTTP/1.1 request", with_fields(kHost), "done"},
    {"a request without its blank line is incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", "incomplete"},
    {"empty lines before the request line are ignored (7230 3.5)",
     "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "done"},
    {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "done"},
    {"HTTP/1.1 without Host (7230 5.4)", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "error:400"},
    {"two Host fields (7230 5.4)", with_fields(kHost + kHost), "error:400"},
    {"an unknown method is still a request", "BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", "done"},
    {"a field value with obs-text and tabs", with_fields(kHost + "X-A: \t\x80\xff ok\t\r\n"), "done"},
    {"a field with an empty value", with_fields(kHost + "X-Empty:\r\n"), "done"},

    // Syntax errors, RFC 7230 sections 3.1.1, 3.2, 3.2.4 and 3.5: 400.
    {"a request line with one space", "GET /\r\nHost: a\r\n\r\n", "error:400"},
    {"a request line with two spaces in a row", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "error:400"},
    {"a request line with a trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "error:400"},
    {"a method with a separator", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", "error:400"},
    {"a target with a control character", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", "error:400"},
    {"a lowercase protocol name", "GET / http/1.1\r\nHost: a\r\n\r\n", "error:400"},
    {"a three-digit version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", "error:400"},
    {"HTTP/2.0 is not supported", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "error:505"},
    {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", "error:505"},
    {"a field without a colon", with_fields(kHost + "NoColon\r\n"), "error:400"},
    {"whitespace before the colon (3.2.4)", with_fields("Host : a\r\n"), "error:400"},
    {"an empty field name", with_fields(kHost + ": x\r\n"), "error:400"},
    {"a field name with a separator", with_fields(kHost + "X(Y): z\r\n"), "error:400"},
    {"obs-fold continuation (3.2.4)", with_fields(kHost + "X-A: 1\r\n  2\r\n"), "error:400"},
    {"a NUL in a field value", with_fields(kHost + std::string("X-A: a\0b\r\n", 10)), "error:400"},
    {"a DEL in a field value", with_fields(kHost + "X-A: a\x7f\r\n"), "error:400"},
    {"a bare LF ends a line", "GET / HTTP/1.1\nHost: a\n\n", "error:400"},
    {"a bare CR inside a line", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "error:400"},

    // Content-Length, RFC 7230 sections 3.3.2-3.3.3.
    {"a Content-Length", with_fields(kHost + "Content-Length: 5\r\n"), "done"},
    {"a Content-Length list of equal values", with_fields(kHost + "Content-Length: 5, 5\r\n"), "done"},
    {"two equal Content-Length fields", with_fields(kHost + "Content-Length: 5\r\nContent-Length: 5\r\n"),
     "done"},
    {"two different Content-Length fields", with_fields(kHost + "Content-Length: 5\r\nContent-Length: 6\r\n"),
     "error:400"},
    {"a Content-Length list that disagrees", with_fields(kHost + "Content-Length: 5, 6\r\n"), "error:400"},
    {"a Content-Length that is not a number", with_fields(kHost + "Content-Length: abc\r\n"), "error:400"},
    {"a negative Content-Length", with_fields(kHost + "Content-Length: -1\r\n"), "error:400"},
    {"a signed Content-Length", with_fields(kHost + "Content-Length: +5\r\n"), "error:400"},
    {"an empty Content-Length", with_fields(kHost + "Content-Length:\r\n"), "error:400"},
    {"a Content-Length with inner space", with_fields(kHost + "Content-Length: 5 5\r\n"), "error:400"},
    {"a Content-Length at the body limit", with_fields(kHost + "Content-Length: 1048576\r\n"), "done"},
    {"a Content-Length over the body limit", with_fields(kHost + "Content-Length: 1048577\r\n"), "error:413"},
    {"a Content-Length beyond 64 bits",
     with_fields(kHost + "Content-Length: 999999999999999999999999999\r\n"), "error:413"},
    {"chunked transfer coding", with_fields(kHost + "Transfer-Encoding: chunked\r\n"), "done"},
    {"chunked in another case, with an empty list element",
     with_fields(kHost + "Transfer-Encoding: , CHUNKED\r\n"), "done"},
    {"gzip then chunked (we cannot undo gzip)", with_fields(kHost + "Transfer-Encoding: gzip, Chunked\r\n"),
     "error:400"},
    {"chunked twice (7230 3.3.1)", with_fields(kHost + "Transfer-Encoding: chunked, chunked\r\n"),
     "error:400"},
    {"chunked over two fields",
     with_fields(kHost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), "error:400"},
    {"a transfer coding that is not chunked", with_fields(kHost + "Transfer-Encoding: gzip\r\n"),
     "error:400"},
    {"chunked beside a Content-Length (7230 3.3.3 item 3)",
     with_fields(kHost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), "error:400"},
};

void outcome_tests() {
  for (const Case& c : kCases) {
    run(c.name, [&] { wstest::expect_outcome_every_split(c.request, c.expected); });
  }
}

std::string fields_of_size(size_t head_bytes) {
  // "GET / HTTP/1.1\r\n" (16) + "Host: a\r\n" (9) + "X: " + filler + "\r\n" + "\r\n"
  const size_t fixed = 16 + 9 + 3 + 2 + 2;
  return "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(head_bytes - fixed, 'x') + "\r\n\r\n";
}

std::string with_n_fields(size_t n) {
  std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (size_t i = 1; i < n; i++) s += "X-" + std::to_string(i) + ": v\r\n";
  return s + "\r\n";
}

void limit_tests() {
  run("a head of exactly 8 KiB is accepted", [] {
    const std::string req = fields_of_size(kDefaultMaxHeadBytes);
    EXPECT_EQ(req.size(), kDefaultMaxHeadBytes);
    wstest::expect_outcome_every_split(req, "done");
  });
  run("a head one byte over 8 KiB is 431",
      [] { wstest::expect_outcome_every_split(fields_of_size(kDefaultMaxHeadBytes + 1), "error:431"); });
  run("an endless head fails at the limit, before its end arrives", [] {
    const std::string req = "GET / HTTP/1.1\r\nX: " + std::string(20000, 'x');
    wstest::expect_outcome_every_split(req, "error:431");
  });
  run("64 header fields are accepted", [] { wstest::expect_outcome_every_split(with_n_fields(64), "done"); });
  run("65 header fields are 431", [] { wstest::expect_outcome_every_split(with_n_fields(65), "error:431"); });
  run("limits come from the options", [] {
    HttpLimits small;
    small.max_head_bytes = 64;
    small.max_headers = 2;
    small.max_body_bytes = 10;
    wstest::expect_outcome_every_split(with_n_fields(3), "error:431", small);
    wstest::expect_outcome_every_split(fields_of_size(65), "error:431", small);
    wstest::expect_outcome_every_split(with_fields(kHost + "Content-Length: 11\r\n"), "error:413", small);
  });
}

void field_tests() {
  run("the request line is split into method, target and version", [] {
    const auto p = wstest::parse_head("GET /ws?topics=a,b HTTP/1.1\r\nHost: a\r\n\r\n", Split::kBytewise);
    const HttpRequestHead& h = p.parser.head();
    EXPECT(h.method == HttpMethod::kGet);
    EXPECT_EQ(h.text(h.method_text), std::string_view("GET"));
    EXPECT_EQ(h.text(h.target), std::string_view("/ws?topics=a,b"));
    EXPECT_EQ(int(h.version_major), 1);
    EXPECT_EQ(int(h.version_minor), 1);
  });
  run("methods are recognised case-sensitively", [] {
    const std::pair<const char*, HttpMethod> methods[] = {
        {"GET", HttpMethod::kGet},     {"HEAD", HttpMethod::kHead},       {"POST", HttpMethod::kPost},
        {"PUT", HttpMethod::kPut},     {"DELETE", HttpMethod::kDelete},   {"OPTIONS", HttpMethod::kOptions},
        {"PATCH", HttpMethod::kPatch}, {"CONNECT", HttpMethod::kConnect}, {"TRACE", HttpMethod::kTrace},
        {"get", HttpMethod::kOther},
    };
    for (const auto& [name, method] : methods) {
      const auto p = wstest::parse_head(std::string(name) + " / HTTP/1.1\r\nHost: a\r\n\r\n", Split::kWhole);
      EXPECT(p.parser.head().method == method);
    }
  });
  run("field lookup ignores case and values lose surrounding whitespace", [] {
    const auto p =
        wstest::parse_head(with_fields("hOsT: \t example.com  \t\r\nX-Two: a b\r\n"), Split::kRandom, 3);
    const HttpRequestHead& h = p.parser.head();
    bool found = false;
    EXPECT_EQ(h.field("Host", &found), std::string_view("example.com"));
    EXPECT(found);
    EXPECT_EQ(h.field("x-two"), std::string_view("a b"));
    h.field("missing", &found);
    EXPECT(!found);
    EXPECT_EQ(h.fields.size(), size_t(2));
  });
  run("Connection is read as a token list across repeated fields", [] {
    const auto p = wstest::parse_head(
        with_fields(kHost + "Connection: foo,, Keep-Alive \r\nConnection: UPGRADE\r\n"), Split::kWhole);
    const HttpRequestHead& h = p.parser.head();
    EXPECT(h.field_has_token("connection", "keep-alive"));
    EXPECT(h.field_has_token("connection", "upgrade"));
    EXPECT(!h.field_has_token("connection", "close"));
    EXPECT(!h.field_has_token("connection", "fo"));
  });
  run("head_bytes marks where the body or the next request starts", [] {
    const std::string first = "POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n";
    const std::string wire = first + "{}" + "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto p = wstest::parse_head(wire, Split::kWhole);
    EXPECT_EQ(p.parser.head().head_bytes, first.size());
    EXPECT_EQ(p.parser.head().content_length, uint64_t(2));
  });
  run("a chunked request is marked chunked, with no Content-Length, and reset() clears it", [] {
    const std::string wire = "POST /publish HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto p = wstest::parse_head(wire, Split::kWhole);
    EXPECT(p.parser.head().chunked);
    EXPECT_EQ(p.parser.head().content_length, uint64_t(0));
    EXPECT_EQ(p.parser.head().head_bytes, wire.size());
    p.parser.reset();
    const std::string next = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    EXPECT(p.parser.parse(next.data(), next.size()).state == HttpParseState::kDone);
    EXPECT(!p.parser.head().chunked);
  });
  run("reset() parses the next request of a keep-alive connection", [] {
    HttpHeadParser parser;
    const std::string a = "GET /a HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n";
    const std::string b = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
    EXPECT(parser.parse(a.data(), a.size()).state == HttpParseState::kDone);
    parser.reset();
    EXPECT(parser.parse(b.data(), b.size()).state == HttpParseState::kDone);
    EXPECT_EQ(parser.head().text(parser.head().target), std::string_view("/b"));
    EXPECT_EQ(parser.head().fields.size(), size_t(1));
  });
  run("an error is sticky and carries a reason", [] {
    HttpHeadParser parser;
    const std::string bad = "GET / HTTP/1.1\nHost: a\r\n\r\n";
    const HttpParseResult r = parser.parse(bad.data(), bad.size());
    EXPECT_EQ(std::string(r.reason), std::string("bare LF"));
    EXPECT(parser.parse(bad.data(), bad.size()).state == HttpParseState::kError);
  });
}

bool keep_alive_of(const std::string& request) {
  return wstest::parse_head(request, Split::kWhole).parser.head().keep_alive;
}

void keep_alive_tests() {
  run("HTTP/1.1 keeps the connection by default (7230 6.3)",
      [] { EXPECT(keep_alive_of(with_fields(kHost))); });
  run("HTTP/1.1 with Connection: close does not",
      [] { EXPECT(!keep_alive_of(with_fields(kHost + "Connection: close\r\n"))); });
  run("close wins inside a token list",
      [] { EXPECT(!keep_alive_of(with_fields(kHost + "Connection: keep-alive, Close\r\n"))); });
  run("HTTP/1.0 closes by default", [] { EXPECT(!keep_alive_of(with_fields("", "HTTP/1.0"))); });
  run("HTTP/1.0 with Connection: keep-alive keeps it",
      [] { EXPECT(keep_alive_of(with_fields("Connection: Keep-Alive\r\n", "HTTP/1.0"))); });
}

void token_tests() {
  run("list_has_token skips empty elements and whitespace", [] {
    EXPECT(list_has_token(" ,a , b\t,", "b"));
    EXPECT(!list_has_token("", "a"));
    EXPECT(!list_has_token("ab", "a"));
    EXPECT(list_has_token("A", "a"));
  });
}

}  // namespace

int main() {
  outcome_tests();
  limit_tests();
  field_tests();
  keep_alive_tests();
  token_tests();
  return wstest::finish();
}
