// The HTTP/1.1 error answer the server writes itself to a bad request head (RFC 7230 section
// 3.1.2), into a caller buffer: the bytes written, or 0 if cap is too small. (The 101 of a
// WebSocket handshake is written by ws/handshake.h.)
#pragma once

#include <cstddef>
#include <string_view>

namespace ringcast::http {

// "HTTP/1.1 <status> <reason>" with Content-Type application/json, Content-Length,
// Connection: close, extra_headers (complete lines, e.g. kVersionHeader for 426) and the body
// {"error":code,"msg":msg} that every HTTP error of ringcast carries (docs/protocol.md); msg is
// JSON-escaped here.
size_t write_error_response(char* out, size_t cap, int status, std::string_view code, std::string_view msg,
                            std::string_view extra_headers = {});

// Reason phrase for the statuses ringcast sends (RFC 7231 section 6.1), "Error" otherwise.
std::string_view reason_phrase(int status);

}  // namespace ringcast::http
