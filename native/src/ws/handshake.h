// The server side of the WebSocket opening handshake (RFC 6455 sections 4.2.1 and 4.2.2):
// deciding whether a parsed request head is a valid upgrade, the accept key, and the 101.
#pragma once

#include <cstddef>
#include <string_view>

#include "http/head.h"

namespace ringcast::ws {

constexpr int kStatusUpgradeRequired = 426;
constexpr size_t kAcceptKeyChars = 28;    // base64 of a 20-byte SHA-1 digest
constexpr size_t kClientNonceBytes = 16;  // Sec-WebSocket-Key decodes to 16 bytes (4.1)
constexpr std::string_view kWebSocketVersion = "13";
// Sent with 426 so the client can retry with a version we speak (RFC 6455 section 4.4).
constexpr std::string_view kVersionHeader = "Sec-WebSocket-Version: 13\r\n";

enum class UpgradeKind : uint8_t {
  kNotUpgrade,  // no "Upgrade: websocket": an ordinary HTTP request for the router
  kOk,          // a valid opening handshake; answer with write_switching_protocols()
  kRejected,    // asked for a WebSocket but broke 4.2.1; answer with write_error_response()
};

struct UpgradeCheck {
  UpgradeKind kind = UpgradeKind::kNotUpgrade;
  int status = 0;                  // kRejected: 400 or 426
  std::string_view extra_headers;  // kRejected: complete header lines to add (may be empty)
  const char* reason = "";         // kRejected: short fixed text for logs and tests
  std::string_view key;            // kOk: Sec-WebSocket-Key, view into the head's buffer
};

// Applies the checks of RFC 6455 section 4.2.1 to a head that HttpHeadParser completed.
// Sec-WebSocket-Protocol, Origin and the path are left to the caller (JS decides).
UpgradeCheck check_upgrade(const http::HttpRequestHead& head);

// Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 section 4.2.2 item 5.4).
// Writes kAcceptKeyChars characters, no terminator.
void compute_accept_key(std::string_view key, char out[kAcceptKeyChars]);

// Enough for write_switching_protocols() without extra headers.
constexpr size_t kSwitchingProtocolsBytes = 129;

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and Sec-WebSocket-Accept
// (RFC 6455 section 4.2.2 item 5) into out[cap]: the bytes written, or 0 if cap is too small.
// extra_headers: complete "Name: value\r\n" lines (e.g. the negotiated
// Sec-WebSocket-Extensions), or empty.
size_t write_switching_protocols(char* out, size_t cap, std::string_view key,
                                 std::string_view extra_headers = {});

}  // namespace ringcast::ws
