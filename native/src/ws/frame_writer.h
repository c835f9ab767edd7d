// Frame encoding (RFC 6455 section 5.2). The server sends unmasked frames (section 5.1);
// the masked client encoder is for tests, fuzzing and the load generator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ws/mask.h"
#include "ws/rfc6455.h"

namespace ringcast::ws {

constexpr size_t kMaxServerHeaderBytes = 10;                                   // 2 + 8, no mask key
constexpr size_t kMaxCloseReasonBytes = kMaxControlPayload - kCloseCodeBytes;  // 123
constexpr size_t kMaxControlFrameBytes = 2 + kMaxControlPayload;               // 127

// Bytes of the header for this payload length: 2, 4 or 10, plus 4 when masked.
size_t frame_header_size(uint64_t payload_len, bool masked);

// Server header (unmasked): writes frame_header_size(len, false) bytes; returns that count.
// The payload follows it verbatim.
size_t write_frame_header(uint8_t* out, Opcode op, bool fin, uint64_t payload_len);

// Ping or pong (section 5.5.2-5.5.3) into out[kMaxControlFrameBytes]. Returns the frame
// size, or 0 if len > 125.
size_t write_control_frame(uint8_t* out, Opcode op, const uint8_t* payload, size_t len);
inline size_t write_pong_frame(uint8_t* out, const uint8_t* payload, size_t len) {
  return write_control_frame(out, Opcode::kPong, payload, len);
}

// Close frame (section 5.5.1) into out[kMaxControlFrameBytes]: code then reason, the reason
// cut to 123 bytes at a UTF-8 character boundary. kCloseNoStatus (1005) writes an empty
// close, since 1005 must not go on the wire (section 7.4.1). The reason should be UTF-8
// (section 5.5.1); it is not checked here. Returns the frame size.
size_t write_close_frame(uint8_t* out, uint16_t code, std::string_view reason);

// Client frame (masked with key, section 5.3) appended to out: header then masked payload.
void append_client_frame(std::vector<uint8_t>& out, Opcode op, bool fin, const uint8_t* payload, size_t len,
                         const uint8_t key[kMaskKeyBytes]);

}  // namespace ringcast::ws
