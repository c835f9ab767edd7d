// Constants of the WebSocket base framing protocol (RFC 6455 section 5.2) and the close
// status codes (section 7.4), shared by the frame parser and the frame writer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// First header byte: FIN, RSV1-3, opcode. Second: MASK, 7-bit payload length.
constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsvBits = 0x70;
constexpr uint8_t kRsv1Bit = 0x40;  // permessage-deflate: a compressed message (RFC 7692 6)
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLength7Bits = 0x7F;
constexpr uint8_t kControlBit = 0x08;  // opcodes 0x8-0xF are control frames (section 5.5)

constexpr uint8_t kLength16Marker = 126;  // next 2 bytes carry the length
constexpr uint8_t kLength64Marker = 127;  // next 8 bytes carry the length
constexpr uint64_t kMaxLength7 = 125;
constexpr uint64_t kMaxLength16 = 0xFFFF;
constexpr size_t kMaxControlPayload = 125;   // section 5.5
constexpr size_t kMaxFrameHeaderBytes = 14;  // 2 + 8 (length) + 4 (mask key)
constexpr size_t kCloseCodeBytes = 2;        // a close payload starts with the code (5.5.1)

// Close status codes, section 7.4.1, and the ones we send.
constexpr uint16_t kCloseNormal = 1000;
constexpr uint16_t kCloseGoingAway = 1001;
constexpr uint16_t kCloseProtocolError = 1002;
constexpr uint16_t kCloseUnsupportedData = 1003;
constexpr uint16_t kCloseNoStatus = 1005;        // never on the wire: "no code received"
constexpr uint16_t kCloseAbnormal = 1006;        // never on the wire: "connection dropped"
constexpr uint16_t kCloseInvalidPayload = 1007;  // e.g. text that is not UTF-8
constexpr uint16_t kClosePolicyViolation = 1008;
constexpr uint16_t kCloseMessageTooBig = 1009;
constexpr uint16_t kCloseInternalError = 1011;
constexpr uint16_t kCloseTryAgainLater = 1013;  // our outbound-limit policy (DESIGN.md)

inline bool is_control(Opcode op) { return (uint8_t(op) & kControlBit) != 0; }

// Whether a peer may send this code in a close frame (section 7.4.1-7.4.2): 1000-1003 and
// 1007-1014 are defined, 1004/1005/1006/1015 are reserved or must not be sent, 1016-2999
// are reserved for future RFCs, 3000-4999 belong to libraries and applications.
bool is_valid_close_code(uint16_t code);

}  // namespace ringcast::ws
