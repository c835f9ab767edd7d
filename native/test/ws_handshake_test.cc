// The opening handshake of RFC 6455 section 4.2: every rejection of check_upgrade() and its
// status, and the exact bytes of the 101 and error responses.
#include <string>

#include "http/response.h"
#include "http_harness.h"
#include "ws/handshake.h"
#include "ws_test.h"

using namespace ringcast::http;
using namespace ringcast::ws;
using wstest::run;
using wstest::Split;

namespace {

const std::string kKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const std::string kVersion = "Sec-WebSocket-Version: 13\r\n";
const std::string kUpgradeFields =
    "Host: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";

std::string request(const std::string& fields, const std::string& line = "GET /ws HTTP/1.1") {
  return line + "\r\n" + fields + "\r\n";
}

// "ok", "not-upgrade", "rejected:<status>", or the head parser's error.
std::string check(const std::string& req) {
  const auto p = wstest::parse_head(req, Split::kWhole);
  if (p.result.state != HttpParseState::kDone) return "head " + wstest::outcome(p.result);
  const UpgradeCheck c = check_upgrade(p.parser.head());
  switch (c.kind) {
    case UpgradeKind::kOk:
      return "ok";
    case UpgradeKind::kNotUpgrade:
      return "not-upgrade";
    case UpgradeKind::kRejected:
      return "rejected:" + std::to_string(c.status);
  }
  return "?";
}

struct Case {
  const char* name;
  std::string request;
  const char* expected;
};

const Case kCases[] = {
    {"the RFC 6455 section 1.3 handshake", request(kUpgradeFields + kKey + kVersion), "ok"},
    {"Upgrade and Connection values in any case",
     request("Host: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n" + kKey + kVersion), "ok"},
    {"Upgrade as a list",
     request("Host: a\r\nUpgrade: foo/2, websocket\r\nConnection: upgrade\r\n" + kKey + kVersion), "ok"},
    {"a plain GET is not an upgrade", request("Host: a\r\n"), "not-upgrade"},
    {"an Upgrade to another protocol is ignored (7230 6.7)",
     request("Host: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"), "not-upgrade"},
    {"a POST upgrade (4.2.1 item 1)", request(kUpgradeFields + kKey + kVersion, "POST /ws HTTP/1.1"),
     "rejected:400"},
    {"an HTTP/1.0 upgrade (4.2.1 item 1)", request(kUpgradeFields + kKey + kVersion, "GET /ws HTTP/1.0"),
     "rejected:400"},
    {"an HTTP/1.0 upgrade without Host (4.2.1 item 2)",
     request("Upgrade: websocket\r\nConnection: Upgrade\r\n" + kKey + kVersion, "GET /ws HTTP/1.0"),
     "rejected:400"},
    {"no Connection field (4.2.1 item 4)", request("Host: a\r\nUpgrade: websocket\r\n" + kKey + kVersion),
     "rejected:400"},
    {"Connection without upgrade (4.2.1 item 4)",
     request("Host: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n" + kKey + kVersion),
     "rejected:400"},
    {"Connection: upgraded is not upgrade",
     request("Host: a\r\nUpgrade: websocket\r\nConnection: upgraded\r\n" + kKey + kVersion), "rejected:400"},
    {"no Sec-WebSocket-Key (4.2.1 item 5)", request(kUpgradeFields + kVersion), "rejected:400"},
    {"a key of 15 bytes", request(kUpgradeFields + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" + kVersion),
     "rejected:400"},
    {"a key of 17 bytes",
     request(kUpgradeFields + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n" + kVersion), "rejected:400"},
    {"a key that is not base64",
     request(kUpgradeFields + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!=\r\n" + kVersion), "rejected:400"},
    {"a key whose padding bits are not zero (RFC 4648 3.5)",
     request(kUpgradeFields + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n" + kVersion), "rejected:400"},
    {"an empty key", request(kUpgradeFields + "Sec-WebSocket-Key:\r\n" + kVersion), "rejected:400"},
    {"two keys", request(kUpgradeFields + kKey + kKey + kVersion), "rejected:400"},
    {"no Sec-WebSocket-Version (4.2.1 item 6)", request(kUpgradeFields + kKey), "rejected:426"},
    {"version 8", request(kUpgradeFields + kKey + "Sec-WebSocket-Version: 8\r\n"), "rejected:426"},
    {"version 13 twice", request(kUpgradeFields + kKey + kVersion + kVersion), "rejected:426"},
    {"version as a list", request(kUpgradeFields + kKey + "Sec-WebSocket-Version: 13, 8\r\n"),
     "rejected:426"},
    {"an HTTP/1.1 upgrade without Host fails in the head parser",
     request("Upgrade: websocket\r\nConnection: Upgrade\r\n" + kKey + kVersion), "head error:400"},
};

void upgrade_tests() {
  for (const Case& c : kCases) {
    run(c.name, [&] { EXPECT_EQ(check(c.request), std::string(c.expected)); });
  }
  run("an accepted upgrade exposes the key", [] {
    const auto p = wstest::parse_head(request(kUpgradeFields + kKey + kVersion), Split::kBytewise);
    EXPECT_EQ(check_upgrade(p.parser.head()).key, std::string_view("dGhlIHNhbXBsZSBub25jZQ=="));
  });
  run("a version rejection asks for version 13", [] {
    const auto p = wstest::parse_head(request(kUpgradeFields + kKey), Split::kWhole);
    const UpgradeCheck c = check_upgrade(p.parser.head());
    EXPECT_EQ(c.extra_headers, std::string_view("Sec-WebSocket-Version: 13\r\n"));
  });
}

void response_tests() {
  run("the 101 response for RFC 6455's sample key", [] {
    char out[kSwitchingProtocolsBytes];
    const size_t n = write_switching_protocols(out, sizeof out, "dGhlIHNhbXBsZSBub25jZQ==");
    EXPECT_EQ(std::string(out, n), std::string("HTTP/1.1 101 Switching Protocols\r\n"
                                               "Upgrade: websocket\r\n"
                                               "Connection: Upgrade\r\n"
                                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                               "\r\n"));
    EXPECT_EQ(n, kSwitchingProtocolsBytes);
  });
  run("the 101 response carries extra headers", [] {
    char out[256];
    const size_t n = write_switching_protocols(
        out, sizeof out, "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol: chat\r\n");
    const std::string s(out, n);
    EXPECT(s.find("\r\nSec-WebSocket-Protocol: chat\r\n\r\n") != std::string::npos);
  });
  run("the 101 response refuses a buffer too small", [] {
    char out[kSwitchingProtocolsBytes - 1];
    EXPECT_EQ(write_switching_protocols(out, sizeof out, "dGhlIHNhbXBsZSBub25jZQ=="), size_t(0));
  });
  run("the 426 response: the JSON error body and the version header", [] {
    char out[256];
    const size_t n = write_error_response(out, sizeof out, 426, "bad_version",
                                          "Sec-WebSocket-Version must be 13", kVersionHeader);
    const std::string body = R"({"error":"bad_version","msg":"Sec-WebSocket-Version must be 13"})";
    EXPECT_EQ(std::string(out, n), std::string("HTTP/1.1 426 Upgrade Required\r\n"
                                               "Content-Type: application/json\r\n"
                                               "Content-Length: ") +
                                       std::to_string(body.size()) +
                                       "\r\n"
                                       "Connection: close\r\n"
                                       "Sec-WebSocket-Version: 13\r\n"
                                       "\r\n" +
                                       body);
  });
  run("an error message is escaped as a JSON string", [] {
    char out[256];
    const size_t n = write_error_response(out, sizeof out, 599, "x", std::string_view("q\"b\\c\n\x01", 7));
    const std::string s(out, n);
    EXPECT(s.find("HTTP/1.1 599 Error\r\n") == 0);
    EXPECT(s.find("\r\n\r\n{\"error\":\"x\",\"msg\":\"q\\\"b\\\\c\\u000a\\u0001\"}") != std::string::npos);
  });
  run("reason phrases of the statuses the parsers produce", [] {
    EXPECT_EQ(reason_phrase(400), std::string_view("Bad Request"));
    EXPECT_EQ(reason_phrase(401), std::string_view("Unauthorized"));
    EXPECT_EQ(reason_phrase(415), std::string_view("Unsupported Media Type"));
    EXPECT_EQ(reason_phrase(411), std::string_view("Length Required"));
    EXPECT_EQ(reason_phrase(413), std::string_view("Payload Too Large"));
    EXPECT_EQ(reason_phrase(431), std::string_view("Request Header Fields Too Large"));
    EXPECT_EQ(reason_phrase(505), std::string_view("HTTP Version Not Supported"));
  });
  run("an error response refuses a buffer too small", [] {
    char out[40];
    EXPECT_EQ(write_error_response(out, sizeof out, 400, "bad_request", "malformed HTTP request"), size_t(0));
  });
}

}  // namespace

int main() {
  upgrade_tests();
  response_tests();
  return wstest::finish();
}
