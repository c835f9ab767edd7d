// Small HTTP/1.1 responses the engine writes itself (RFC 7230 section 3.1.2): the
// 101 that completes a WebSocket handshake and the error answer to a bad request head.
// Both write into a caller buffer and return the bytes written, or 0 if cap is too small.
#pragma once

#include <cstddef>
#include <string_view>

namespace ringcast::ws {

// Enough for write_switching_protocols() without extra headers.
constexpr size_t kSwitchingProtocolsBytes = 129;

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and Sec-WebSocket-Accept
// (RFC 6455 section 4.2.2 item 5). extra_headers: complete "Name: value\r\n" lines (e.g. a
// chosen Sec-WebSocket-Protocol), or empty.
size_t write_switching_protocols(char* out, size_t cap, std::string_view key,
                                 std::string_view extra_headers = {});

// "HTTP/1.1 <status> <reason>" with Content-Type application/json, Content-Length,
// Connection: close, extra_headers (complete lines, e.g. kVersionHeader for 426) and the body
// {"error":code,"msg":msg} that every HTTP error of ringcast carries (docs/protocol.md); msg is
// JSON-escaped here.
size_t write_error_response(char* out, size_t cap, int status, std::string_view code,
                            std::string_view msg, std::string_view extra_headers = {});

// Reason phrase for the statuses ringcast sends (RFC 7231 section 6.1), "Error" otherwise.
std::string_view reason_phrase(int status);

}  // namespace ringcast::ws
