#include "ws/frame_parser.h"

#include <algorithm>
#include <cstring>

namespace ringcast::ws {

namespace {

constexpr size_t kFirstBytes = 2;
constexpr size_t kLength16Bytes = 2;
constexpr size_t kLength64Bytes = 8;
constexpr uint64_t kLength64Msb = uint64_t(1) << 63;

bool is_known_opcode(uint8_t op) {
  switch (Opcode(op)) {
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
    case Opcode::kClose:
    case Opcode::kPing:
    case Opcode::kPong:
      return true;
  }
  return false;  // 0x3-0x7 and 0xB-0xF are reserved (section 5.2)
}

// The payload of an empty control frame: a valid pointer, never read.
constexpr uint8_t kNoPayload[1] = {0};

uint64_t load_be(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

}  // namespace

FrameEvent FrameParser::fail(uint16_t code, const char* reason) {
  phase_ = Phase::kStopped;
  FrameEvent e;
  e.type = FrameEventType::kError;
  e.code = code;
  e.reason = reason;
  return e;
}

FrameEvent FrameParser::event_of(FrameEventType type, const uint8_t* data, size_t size, uint16_t code) {
  FrameEvent e;
  e.type = type;
  e.data = data;
  e.size = size;
  e.code = code;
  return e;
}

void FrameParser::next_frame() {
  phase_ = Phase::kFirstBytes;
  header_len_ = 0;
  header_need_ = kFirstBytes;
  payload_len_ = 0;
  payload_done_ = 0;
}

FrameStep FrameParser::parse(uint8_t* data, size_t len, std::vector<uint8_t>& message) {
  size_t used = 0;
  while (phase_ != Phase::kPayload) {
    if (phase_ == Phase::kStopped) return FrameStep{len, {}};
    if (!fill_header(data, len, &used)) return FrameStep{used, {}};
    const FrameEvent ev = advance_header(message);
    if (ev.type != FrameEventType::kNone) return FrameStep{used, ev};
  }

  const size_t avail = len - used;
  const uint64_t left = payload_len_ - payload_done_;
  // The fast path: a whole unfragmented data frame, or a whole control frame, in this chunk is
  // unmasked where it lies.
  const bool single = fin_ && opcode_ != Opcode::kContinuation;
  if (single && payload_done_ == 0 && avail >= left) {
    return FrameStep{used + size_t(left), deliver_in_place(data + used)};
  }
  const size_t n = size_t(std::min<uint64_t>(avail, left));
  if (n == 0) return FrameStep{used, {}};
  FrameEvent ev = consume_payload(data + used, n, message);
  used += n;
  if (ev.type == FrameEventType::kNone && payload_done_ == payload_len_) ev = finish_frame(message);
  return FrameStep{used, ev};
}

// Copies header bytes until the current phase has what it needs; false if input ran out.
bool FrameParser::fill_header(const uint8_t* data, size_t len, size_t* used) {
  const size_t take = std::min<size_t>(header_need_ - header_len_, len - *used);
  if (take > 0) std::memcpy(header_ + header_len_, data + *used, take);
  header_len_ = uint8_t(header_len_ + take);
  *used += take;
  return header_len_ == header_need_;
}

FrameEvent FrameParser::advance_header(std::vector<uint8_t>& message) {
  switch (phase_) {
    case Phase::kFirstBytes:
      return on_first_bytes(message);
    case Phase::kExtendedLength:
      return on_length();
    case Phase::kMaskKey:
      return on_mask_key(message);
    default:
      return {};
  }
}

// Section 5.2 rules that the first two bytes decide, checked before anything else arrives.
FrameEvent FrameParser::on_first_bytes(std::vector<uint8_t>& message) {
  const uint8_t b0 = header_[0];
  const uint8_t b1 = header_[1];
  const bool rsv1 = (b0 & kRsv1Bit) != 0;
  if ((b0 & kRsvBits & ~kRsv1Bit) || (rsv1 && !deflate_)) {
    return fail(kCloseProtocolError, "RSV bit set without an extension");
  }
  if (!is_known_opcode(b0 & kOpcodeBits)) return fail(kCloseProtocolError, "reserved opcode");
  opcode_ = Opcode(b0 & kOpcodeBits);
  // RFC 7692 section 6.1: RSV1 only on the first frame of a message, never on a control frame.
  if (rsv1 && is_control(opcode_)) return fail(kCloseProtocolError, "RSV1 set on a control frame");
  if (rsv1 && opcode_ == Opcode::kContinuation) {
    return fail(kCloseProtocolError, "RSV1 set on a continuation frame");
  }
  fin_ = (b0 & kFinBit) != 0;
  const uint8_t len7 = b1 & kLength7Bits;
  if (is_control(opcode_)) {
    // Section 5.5: control frames are never fragmented and carry at most 125 bytes.
    if (!fin_) return fail(kCloseProtocolError, "fragmented control frame");
    if (len7 > kMaxControlPayload) return fail(kCloseProtocolError, "control frame too long");
  }
  // Section 5.1: a server MUST fail the connection on an unmasked client frame.
  if (!(b1 & kMaskBit)) return fail(kCloseProtocolError, "unmasked client frame");
  // Section 5.4: continuations only inside a message, new messages only outside one.
  if (opcode_ == Opcode::kContinuation && !message_open_) {
    return fail(kCloseProtocolError, "continuation without a message");
  }
  if ((opcode_ == Opcode::kText || opcode_ == Opcode::kBinary)) {
    if (message_open_) return fail(kCloseProtocolError, "new message inside a fragmented one");
    message_open_ = true;
    message_opcode_ = opcode_;
    message_compressed_ = rsv1;
    message_bytes_ = 0;
    utf8_.reset();
    message.clear();
  }
  const size_t ext = len7 == kLength16Marker ? kLength16Bytes : len7 == kLength64Marker ? kLength64Bytes : 0;
  phase_ = Phase::kExtendedLength;
  header_need_ = uint8_t(kFirstBytes + ext);
  return ext == 0 ? on_length() : FrameEvent{};
}

// The payload length is known here; refuse a too-big message before reading its payload.
FrameEvent FrameParser::on_length() {
  const uint8_t len7 = header_[1] & kLength7Bits;
  const size_t ext = header_need_ - kFirstBytes;
  payload_len_ = ext == 0 ? len7 : load_be(header_ + kFirstBytes, ext);
  if (ext == kLength64Bytes && (payload_len_ & kLength64Msb)) {
    return fail(kCloseProtocolError, "64-bit length with the high bit set");
  }
  // Section 5.2: "the minimal number of bytes MUST be used to encode the length".
  if ((ext == kLength16Bytes && payload_len_ <= kMaxLength7) ||
      (ext == kLength64Bytes && payload_len_ <= kMaxLength16)) {
    return fail(kCloseProtocolError, "length not minimally encoded");
  }
  if (!is_control(opcode_)) {
    if (payload_len_ > limits_.max_message_bytes - message_bytes_) {
      return fail(kCloseMessageTooBig, "message too big");
    }
    message_bytes_ += payload_len_;
  }
  phase_ = Phase::kMaskKey;
  header_need_ = uint8_t(header_need_ + kMaskKeyBytes);
  return {};
}

FrameEvent FrameParser::on_mask_key(std::vector<uint8_t>& message) {
  std::memcpy(mask_key_, header_ + header_len_ - kMaskKeyBytes, kMaskKeyBytes);
  phase_ = Phase::kPayload;
  return payload_len_ == 0 ? finish_frame(message) : FrameEvent{};
}

FrameEvent FrameParser::deliver_in_place(uint8_t* payload) {
  const size_t n = size_t(payload_len_);
  apply_mask(payload, payload, n, mask_key_, 0);
  if (is_control(opcode_)) {
    const Opcode op = opcode_;
    next_frame();
    return control_event(op, payload, n);
  }
  if (checks_utf8() && !(utf8_.feed(payload, n) && utf8_.at_boundary())) {
    return fail(kCloseInvalidPayload, "text message is not UTF-8");
  }
  const FrameEventType type = opcode_ == Opcode::kText ? FrameEventType::kText : FrameEventType::kBinary;
  message_open_ = false;
  next_frame();
  FrameEvent e = event_of(type, payload, n, 0);
  e.compressed = message_compressed_;
  return e;
}

FrameEvent FrameParser::consume_payload(const uint8_t* src, size_t n, std::vector<uint8_t>& message) {
  if (is_control(opcode_)) {
    if (!control_) control_.reset(new uint8_t[kMaxControlPayload]);
    apply_mask(control_.get() + payload_done_, src, n, mask_key_, payload_done_);
    payload_done_ += n;
    return {};
  }
  const size_t old = message.size();
  message.resize(old + n);
  apply_mask(message.data() + old, src, n, mask_key_, payload_done_);
  payload_done_ += n;
  // Section 8.1: invalid UTF-8 fails the connection; checking each chunk as it arrives
  // catches it mid-fragment instead of after the whole message is buffered.
  if (checks_utf8() && !utf8_.feed(message.data() + old, n)) {
    return fail(kCloseInvalidPayload, "text message is not UTF-8");
  }
  return {};
}

FrameEvent FrameParser::finish_frame(std::vector<uint8_t>& message) {
  const Opcode op = opcode_;
  const size_t control_len = size_t(payload_len_);
  const bool fin = fin_;
  next_frame();
  if (is_control(op)) return control_event(op, control_len > 0 ? control_.get() : kNoPayload, control_len);
  if (!fin) return {};
  message_open_ = false;
  if (checks_utf8() && !utf8_.at_boundary()) {
    return fail(kCloseInvalidPayload, "text message ends inside a UTF-8 sequence");
  }
  const FrameEventType type = is_text_message() ? FrameEventType::kText : FrameEventType::kBinary;
  FrameEvent e = event_of(type, message.data(), message.size(), 0);
  e.compressed = message_compressed_;
  return e;
}

FrameEvent FrameParser::control_event(Opcode op, const uint8_t* payload, size_t len) {
  switch (op) {
    case Opcode::kPing:
      return event_of(FrameEventType::kPing, payload, len, 0);
    case Opcode::kPong:
      return event_of(FrameEventType::kPong, payload, len, 0);
    default:
      return finish_close(payload, len);
  }
}

// Close payload, sections 5.5.1 and 7.4: empty, or a 2-byte code and a UTF-8 reason.
FrameEvent FrameParser::finish_close(const uint8_t* payload, size_t len) {
  if (len == 0) {
    phase_ = Phase::kStopped;
    return event_of(FrameEventType::kClose, payload, 0, kCloseNoStatus);
  }
  if (len < kCloseCodeBytes) return fail(kCloseProtocolError, "close payload of 1 byte");
  const uint16_t code = uint16_t(load_be(payload, kCloseCodeBytes));
  if (!is_valid_close_code(code)) return fail(kCloseProtocolError, "invalid close code");
  const uint8_t* reason = payload + kCloseCodeBytes;
  const size_t reason_len = len - kCloseCodeBytes;
  if (!is_valid_utf8(reason, reason_len)) {
    return fail(kCloseInvalidPayload, "close reason is not UTF-8");
  }
  phase_ = Phase::kStopped;
  return event_of(FrameEventType::kClose, reason, reason_len, code);
}

}  // namespace ringcast::ws
