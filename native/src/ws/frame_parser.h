// Server-side parser of client frames (RFC 6455 sections 5 and 7), pure and incremental:
// bytes may be split anywhere, and the parser keeps a small state between calls.
//
// Feeding model: the caller passes each received chunk once; parse() consumes a prefix of it
// and returns at most one event, so the caller loops until the chunk is consumed:
//
//   for (size_t off = 0; off < len;) {
//     FrameStep step = parser.parse(data + off, len - off, message);
//     off += step.consumed;
//     if (step.event.type != FrameEventType::kNone) handle(step.event);
//   }
//
// Buffers: parse() unmasks payload IN PLACE in `data` (the receive buffer is ours until it
// goes back to the kernel). A text/binary message that arrives as one unfragmented frame
// wholly inside `data` is delivered as a span of `data` (no copy). Any other message is
// unmasked into `message`, a growable buffer the caller owns and must pass unchanged while
// in_message() is true; the parser clears it when a new message starts. Event spans are
// valid until the next parse() call or until `data` is released, whichever comes first.
// A control frame wholly inside `data` is unmasked and delivered in place too; one split
// across chunks is gathered in a 125-byte buffer the parser allocates the first time (an idle
// connection's parser stays small: it is part of every connection's memory).
//
// After a close or error event the parser stops: it consumes and ignores further input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "ws/mask.h"
#include "ws/rfc6455.h"
#include "ws/utf8.h"

namespace ringcast::ws {

// For tests and fuzzers: the server passes --max-payload from config/defaults.ts.
constexpr uint64_t kDefaultMaxMessageBytes = 1024 * 1024;

struct FrameLimits {
  // Summed over all fragments of one message; exceeding it is 1009 (section 7.4.1) as soon
  // as a frame header announces it, before any of that payload is read. For a compressed
  // message this bounds the compressed bytes; the layer that inflates bounds the rest.
  uint64_t max_message_bytes = kDefaultMaxMessageBytes;
};

enum class FrameEventType : uint8_t {
  kNone,    // nothing complete yet (or a fragment that did not end its message)
  kText,    // data/size: the whole message, valid UTF-8 (unless compressed: checked once inflated)
  kBinary,  // data/size: the whole message
  kPing,    // data/size: the ping payload to echo in a pong (section 5.5.2)
  kPong,    // data/size: the pong payload
  kClose,   // code: the peer's status (1005 if the close had no payload); data/size: reason
  kError,   // code: the close status to send (1002, 1007, 1009); reason: why, fixed text
};

struct FrameEvent {
  FrameEventType type = FrameEventType::kNone;
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint16_t code = 0;
  const char* reason = "";
  bool compressed = false;  // kText/kBinary: RSV1 was set (permessage-deflate), data is deflated

  std::string_view text() const { return {reinterpret_cast<const char*>(data), size}; }
};

struct FrameStep {
  size_t consumed = 0;
  FrameEvent event;
};

class FrameParser {
 public:
  explicit FrameParser(FrameLimits limits = {}) : limits_(limits) {}

  FrameStep parse(uint8_t* data, size_t len, std::vector<uint8_t>& message);

  // A fragmented message is open: the caller must keep its `message` buffer.
  bool in_message() const { return message_open_; }
  // A close or error event was returned; further input is ignored.
  bool stopped() const { return phase_ == Phase::kStopped; }
  void reset() {
    const bool deflate = deflate_;
    *this = FrameParser(limits_);
    deflate_ = deflate;
  }
  // permessage-deflate was negotiated (RFC 7692): RSV1 is allowed on the first frame of a data
  // message and marks it compressed; without it, RSV1 anywhere fails with 1002.
  void allow_compressed() { deflate_ = true; }

 private:
  enum class Phase : uint8_t { kFirstBytes, kExtendedLength, kMaskKey, kPayload, kStopped };

  bool fill_header(const uint8_t* data, size_t len, size_t* used);
  FrameEvent advance_header(std::vector<uint8_t>& message);
  FrameEvent on_first_bytes(std::vector<uint8_t>& message);
  FrameEvent on_length();
  FrameEvent on_mask_key(std::vector<uint8_t>& message);
  FrameEvent deliver_in_place(uint8_t* payload);
  FrameEvent control_event(Opcode op, const uint8_t* payload, size_t len);
  FrameEvent consume_payload(const uint8_t* src, size_t n, std::vector<uint8_t>& message);
  FrameEvent finish_frame(std::vector<uint8_t>& message);
  FrameEvent finish_close(const uint8_t* payload, size_t len);
  FrameEvent fail(uint16_t code, const char* reason);
  static FrameEvent event_of(FrameEventType type, const uint8_t* data, size_t size, uint16_t code);
  void next_frame();
  bool is_text_message() const { return message_opcode_ == Opcode::kText; }
  // UTF-8 is checked as payload arrives only for plain text: compressed text is checked inflated.
  bool checks_utf8() const { return is_text_message() && !message_compressed_; }

  FrameLimits limits_;
  Phase phase_ = Phase::kFirstBytes;
  uint8_t header_[kMaxFrameHeaderBytes] = {};
  uint8_t header_len_ = 0;   // bytes of header_ filled
  uint8_t header_need_ = 2;  // header_len_ at which the current phase is complete

  // The frame being read.
  Opcode opcode_ = Opcode::kContinuation;
  bool fin_ = false;
  uint8_t mask_key_[kMaskKeyBytes] = {};
  uint64_t payload_len_ = 0;
  uint64_t payload_done_ = 0;

  // The data message being assembled (section 5.4); control frames do not touch it.
  bool message_open_ = false;
  Opcode message_opcode_ = Opcode::kBinary;
  bool message_compressed_ = false;
  bool deflate_ = false;
  uint64_t message_bytes_ = 0;  // announced so far, for the 1009 check
  Utf8Validator utf8_;

  std::unique_ptr<uint8_t[]> control_;  // kMaxControlPayload bytes, once a control payload was split
};

}  // namespace ringcast::ws
