// libFuzzer target: the frame parser, fed at fuzzer-chosen split points.
//
// Input: byte 0 seeds the split points; byte 1 bit 0 selects a 64-byte message limit, bit 1
// selects "structured" mode; the rest is the wire. In structured mode the rest is read as
// frame descriptions (first byte, length, payload) that are masked here, so mutations reach
// the payload rules instead of stopping at "unmasked client frame".
//
// Invariants: every call consumes at least one byte and no more than it was given; each
// chunk is an exactly-sized heap copy (ASan catches reads past it); text messages and
// close reasons are valid UTF-8; sizes respect the limits; errors carry 1002/1007/1009;
// nothing follows a close or error; and the events are the same for one whole feed and
// for the split feed.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ws/frame_parser.h"
#include "ws/frame_writer.h"
#include "ws/utf8.h"

using namespace ringcast::ws;

namespace {

constexpr size_t kControlBytes = 2;
constexpr uint64_t kSmallLimit = 64;
constexpr uint8_t kLongLengthMarker = 255;  // structured mode: a 2-byte length follows

void require(bool ok) {
  if (!ok) std::abort();
}

void check_event(const FrameEvent& e, const FrameLimits& limits, bool deflate) {
  // only a connection that negotiated permessage-deflate sees compressed messages
  require(!e.compressed ||
          (deflate && (e.type == FrameEventType::kText || e.type == FrameEventType::kBinary)));
  switch (e.type) {
    case FrameEventType::kText:
      require(e.compressed || is_valid_utf8(e.data, e.size));
      [[fallthrough]];
    case FrameEventType::kBinary:
      require(e.size <= limits.max_message_bytes);
      break;
    case FrameEventType::kPing:
    case FrameEventType::kPong:
      require(e.size <= kMaxControlPayload);
      break;
    case FrameEventType::kClose:
      require(e.size <= kMaxControlPayload - kCloseCodeBytes);
      require(is_valid_utf8(e.data, e.size));
      require(e.code == kCloseNoStatus || is_valid_close_code(e.code));
      break;
    case FrameEventType::kError:
      require(e.code == kCloseProtocolError || e.code == kCloseInvalidPayload ||
              e.code == kCloseMessageTooBig);
      break;
    case FrameEventType::kNone:
      break;
  }
}

std::string record(const FrameEvent& e) {
  std::string s(1, char('0' + int(e.type)));
  if (e.compressed) s += 'z';
  s += std::to_string(e.code) + ":";
  if (e.type != FrameEventType::kError && e.size > 0) {
    s.append(reinterpret_cast<const char*>(e.data), e.size);
  }
  return s;
}

std::vector<std::string> feed(const std::vector<uint8_t>& wire, uint8_t seed, const FrameLimits& limits,
                              bool deflate) {
  FrameParser parser(limits);
  if (deflate) parser.allow_compressed();
  std::vector<uint8_t> message;
  std::vector<std::string> events;
  uint32_t state = seed;
  for (size_t pos = 0; pos < wire.size();) {
    size_t n = wire.size() - pos;
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      n = std::min<size_t>(n, 1 + (state >> 16) % 32);
    }
    std::vector<uint8_t> chunk(wire.begin() + long(pos), wire.begin() + long(pos + n));
    pos += n;
    for (size_t off = 0; off < n;) {
      const bool was_stopped = parser.stopped();
      const FrameStep step = parser.parse(chunk.data() + off, n - off, message);
      require(step.consumed > 0 && step.consumed <= n - off);
      off += step.consumed;
      if (step.event.type == FrameEventType::kNone) continue;
      require(!was_stopped);
      check_event(step.event, limits, deflate);
      events.push_back(record(step.event));
    }
  }
  return events;
}

// Structured mode: [b0][len][payload...] repeated; b0 keeps its FIN, RSV and opcode bits.
std::vector<uint8_t> build_frames(const uint8_t* p, size_t n) {
  static constexpr uint8_t kKey[kMaskKeyBytes] = {0x5a, 0xc3, 0x0f, 0x96};
  std::vector<uint8_t> wire;
  size_t i = 0;
  while (i + 2 <= n) {
    const uint8_t b0 = p[i];
    size_t len = p[i + 1];
    i += 2;
    if (len == kLongLengthMarker && i + 2 <= n) {
      len = size_t(p[i]) << 8 | p[i + 1];
      i += 2;
    }
    len = std::min(len, n - i);
    const size_t start = wire.size();
    append_client_frame(wire, Opcode(b0 & kOpcodeBits), (b0 & kFinBit) != 0, p + i, len, kKey);
    wire[start] = uint8_t(wire[start] | (b0 & kRsvBits));
    i += len;
  }
  return wire;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kControlBytes) return 0;
  FrameLimits limits;
  if (data[1] & 1) limits.max_message_bytes = kSmallLimit;
  const uint8_t* rest = data + kControlBytes;
  const size_t rest_len = size - kControlBytes;
  const std::vector<uint8_t> wire =
      (data[1] & 2) ? build_frames(rest, rest_len) : std::vector<uint8_t>(rest, rest + rest_len);

  const bool deflate = (data[1] & 4) != 0;  // permessage-deflate negotiated: RSV1 allowed
  const std::vector<std::string> whole = feed(wire, 0, limits, deflate);
  const std::vector<std::string> split = feed(wire, data[0] == 0 ? 1 : data[0], limits, deflate);
  require(whole == split);
  return 0;
}
