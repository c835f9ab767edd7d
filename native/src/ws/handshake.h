// The server side of the WebSocket opening handshake (RFC 6455 sections 4.2.1 and 4.2.2):
// deciding whether a parsed request head is a valid upgrade, and the accept key.
#pragma once

#include <cstddef>
#include <string_view>

#include "ws/http_head.h"

namespace ringcast::ws {

constexpr int kStatusUpgradeRequired = 426;
constexpr size_t kAcceptKeyChars = 28;     // base64 of a 20-byte SHA-1 digest
constexpr size_t kClientNonceBytes = 16;   // Sec-WebSocket-Key decodes to 16 bytes (4.1)
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
  int status = 0;                   // kRejected: 400 or 426
  std::string_view extra_headers;   // kRejected: complete header lines to add (may be empty)
  const char* reason = "";          // kRejected: short fixed text for logs and tests
  std::string_view key;             // kOk: Sec-WebSocket-Key, view into the head's buffer
};

// Applies the checks of RFC 6455 section 4.2.1 to a head that HttpHeadParser completed.
// Sec-WebSocket-Protocol, Origin and the path are left to the caller (JS decides).
UpgradeCheck check_upgrade(const HttpRequestHead& head);

// Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 section 4.2.2 item 5.4).
// Writes kAcceptKeyChars characters, no terminator.
void compute_accept_key(std::string_view key, char out[kAcceptKeyChars]);

}  // namespace ringcast::ws
