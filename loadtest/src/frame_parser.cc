#include "frame_parser.h"

namespace loadgen {
namespace {

bool is_control(uint8_t op) { return op >= 8; }
bool is_known(uint8_t op) { return op <= 2 || (op >= 8 && op <= 10); }

// Header length for a frame starting at p, or 0 when not enough bytes are there to know it.
size_t header_length(const uint8_t* p, size_t len) {
  if (len < 2) return 0;
  uint8_t len7 = p[1] & 0x7f;
  size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
  return len >= need ? need : 0;
}

uint64_t payload_length(const uint8_t* p) {
  uint8_t len7 = p[1] & 0x7f;
  if (len7 < 126) return len7;
  if (len7 == 126) return (uint64_t(p[2]) << 8) | p[3];
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[2 + i];
  return v;
}

}  // namespace

const char* parse_status_name(ParseStatus s) {
  switch (s) {
    case ParseStatus::Ok:
      return "ok";
    case ParseStatus::MaskedFrame:
      return "masked_server_frame";
    case ParseStatus::ReservedBits:
      return "reserved_bits_set";
    case ParseStatus::BadOpcode:
      return "bad_opcode";
    case ParseStatus::BadControlFrame:
      return "bad_control_frame";
    case ParseStatus::BadContinuation:
      return "bad_continuation";
    case ParseStatus::TooLarge:
      return "message_too_large";
  }
  return "unknown";
}

ParseStatus FrameParser::deliver(bool fin, bool rsv1, Opcode op, const uint8_t* payload, size_t n,
                                 FrameSink& sink) {
  uint8_t code = uint8_t(op);
  if (rsv1 && (!deflate_ || is_control(code) || op == Opcode::Continuation)) return ParseStatus::ReservedBits;
  if (is_control(code)) {
    if (!fin || n > 125) return ParseStatus::BadControlFrame;
    sink.on_control(op, payload, n);
    return ParseStatus::Ok;
  }
  if (op == Opcode::Continuation) {
    if (!in_fragmented_) return ParseStatus::BadContinuation;
  } else if (in_fragmented_) {
    return ParseStatus::BadContinuation;
  }
  if (fin && !in_fragmented_) {
    sink.on_message(op, payload, n, rsv1);
    return ParseStatus::Ok;
  }
  if (!in_fragmented_) {
    in_fragmented_ = true;
    fragmented_op_ = op;
    compressed_ = rsv1;
  }
  if (fragments_.size() + n > max_message_) return ParseStatus::TooLarge;
  fragments_.insert(fragments_.end(), payload, payload + n);
  if (fin) {
    sink.on_message(fragmented_op_, fragments_.data(), fragments_.size(), compressed_);
    fragments_.clear();
    in_fragmented_ = false;
  }
  return ParseStatus::Ok;
}

size_t FrameParser::parse_frames(const uint8_t* p, size_t len, FrameSink& sink, ParseStatus& status) {
  size_t off = 0;
  status = ParseStatus::Ok;
  while (off < len) {
    const uint8_t* f = p + off;
    size_t hlen = header_length(f, len - off);
    if (hlen == 0) break;
    if (f[1] & 0x80) {
      status = ParseStatus::MaskedFrame;
      break;
    }
    if (f[0] & 0x30) {
      status = ParseStatus::ReservedBits;
      break;
    }  // RSV1: deliver() decides
    if (!is_known(f[0] & 0x0f)) {
      status = ParseStatus::BadOpcode;
      break;
    }
    uint64_t plen = payload_length(f);
    if (plen > max_message_) {
      status = ParseStatus::TooLarge;
      break;
    }
    if (len - off - hlen < plen) break;
    status =
        deliver((f[0] & 0x80) != 0, (f[0] & 0x40) != 0, Opcode(f[0] & 0x0f), f + hlen, size_t(plen), sink);
    if (status != ParseStatus::Ok) break;
    off += hlen + size_t(plen);
  }
  return off;
}

ParseStatus FrameParser::feed(const uint8_t* data, size_t len, FrameSink& sink) {
  ParseStatus status = ParseStatus::Ok;
  // A frame straddles reads. Complete it by taking from the new bytes only what it lacks (its
  // header is at most 14 bytes), never the whole read: a 16 KiB frame cut at the end of
  // every 256 KiB read would otherwise copy the read twice.
  while (!carry_.empty()) {
    size_t hlen = header_length(carry_.data(), carry_.size());
    size_t want = hlen ? hlen + size_t(payload_length(carry_.data())) : 14;
    size_t take = want > carry_.size() ? want - carry_.size() : 0;
    if (take > len) take = len;
    carry_.insert(carry_.end(), data, data + take);
    data += take;
    len -= take;
    size_t used = parse_frames(carry_.data(), carry_.size(), sink, status);
    if (status != ParseStatus::Ok) return status;
    if (used == 0) {
      if (len == 0) return ParseStatus::Ok;  // still incomplete: wait for the next read
      continue;                              // the header is known now: take the payload
    }
    // Bytes past the completed frame were taken from `data` and are still there: give back.
    size_t extra = carry_.size() - used;
    data -= extra;
    len += extra;
    carry_.clear();
  }
  size_t used = parse_frames(data, len, sink, status);
  if (status == ParseStatus::Ok && used < len) carry_.assign(data + used, data + len);
  return status;
}

}  // namespace loadgen
