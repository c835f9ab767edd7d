// Incremental parser for server-to-client WebSocket frames (RFC 6455 section 5.2). Pure: bytes
// in, events out. A frame may arrive split across any number of reads; complete frames in a
// read are handed out straight from the caller's buffer, and only an incomplete tail is copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

enum class Opcode : uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // A whole data message (fragments joined). The bytes are valid only during the call.
  // compressed: RSV1 was set on its first frame (permessage-deflate), the bytes are deflated.
  virtual void on_message(Opcode op, const uint8_t* data, size_t len, bool compressed) = 0;
  // Close, ping or pong, never fragmented (section 5.5).
  virtual void on_control(Opcode op, const uint8_t* data, size_t len) = 0;
};

enum class ParseStatus {
  Ok,
  MaskedFrame,   // a server must not mask (section 5.1)
  ReservedBits,  // RSV bits without a negotiated extension, or RSV1 where RFC 7692 forbids it
  BadOpcode,
  BadControlFrame,  // fragmented or longer than 125 bytes
  BadContinuation,  // continuation without a start, or a new start inside a message
  TooLarge,
};

const char* parse_status_name(ParseStatus s);

class FrameParser {
 public:
  explicit FrameParser(size_t max_message = 64 << 20) : max_message_(max_message) {}
  ParseStatus feed(const uint8_t* data, size_t len, FrameSink& sink);
  size_t buffered() const { return carry_.size() + fragments_.size(); }
  // permessage-deflate was negotiated: RSV1 on the first frame of a message is allowed.
  void allow_compressed() { deflate_ = true; }

 private:
  // Parses whole frames from [p, p + len); returns bytes consumed, stops at an incomplete one.
  size_t parse_frames(const uint8_t* p, size_t len, FrameSink& sink, ParseStatus& status);
  ParseStatus deliver(bool fin, bool rsv1, Opcode op, const uint8_t* payload, size_t n, FrameSink& sink);

  size_t max_message_;
  std::vector<uint8_t> carry_;      // bytes of an incomplete frame
  std::vector<uint8_t> fragments_;  // payload of a fragmented message so far
  bool in_fragmented_ = false;
  bool deflate_ = false;
  bool compressed_ = false;  // the message being read had RSV1
  Opcode fragmented_op_ = Opcode::Text;
};

}  // namespace loadgen
