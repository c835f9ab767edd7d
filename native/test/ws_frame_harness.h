// Feeds raw bytes to a FrameParser in chosen chunks and records the events as strings,
// so frame tests compare lists like {"text:Hello", "close:1000:bye"}.
#pragma once

#include <string>
#include <vector>

#include "ws/frame_parser.h"
#include "ws_test.h"

namespace wstest {

inline std::string describe(const ringcast::ws::FrameEvent& e) {
  using ringcast::ws::FrameEventType;
  // a compressed message (permessage-deflate) is shown as hex: the parser does not inflate
  if (e.compressed && e.type == FrameEventType::kText) return "deflate-text:" + to_hex(e.data, e.size);
  if (e.compressed && e.type == FrameEventType::kBinary) return "deflate-binary:" + to_hex(e.data, e.size);
  switch (e.type) {
    case FrameEventType::kText:
      return "text:" + std::string(e.text());
    case FrameEventType::kBinary:
      return "binary:" + to_hex(e.data, e.size);
    case FrameEventType::kPing:
      return "ping:" + to_hex(e.data, e.size);
    case FrameEventType::kPong:
      return "pong:" + to_hex(e.data, e.size);
    case FrameEventType::kClose:
      return "close:" + std::to_string(e.code) + ":" + std::string(e.text());
    case FrameEventType::kError:
      return "error:" + std::to_string(e.code);
    case FrameEventType::kNone:
      break;
  }
  return "none";
}

struct FeedResult {
  std::vector<std::string> events;
  int in_place = 0;  // message events whose span pointed into the input chunk
};

// Each chunk is copied into its own exactly-sized heap block, so AddressSanitizer reports
// any read past the bytes the parser was given.
inline FeedResult feed_frames(const std::vector<uint8_t>& input, Split how, uint64_t seed,
                              ringcast::ws::FrameLimits limits = {}, bool deflate = false) {
  ringcast::ws::FrameParser parser(limits);
  if (deflate) parser.allow_compressed();
  std::vector<uint8_t> message;
  FeedResult out;
  size_t pos = 0;
  for (size_t n : chunk_sizes(input.size(), how, seed)) {
    std::vector<uint8_t> chunk(input.begin() + long(pos), input.begin() + long(pos + n));
    pos += n;
    for (size_t off = 0; off < n;) {
      const ringcast::ws::FrameStep step = parser.parse(chunk.data() + off, n - off, message);
      if (step.consumed == 0 || step.consumed > n - off) {
        report_failure(__FILE__, __LINE__,
                       "parse consumed " + std::to_string(step.consumed) + " of " + std::to_string(n - off));
        return out;
      }
      off += step.consumed;
      if (step.event.type == ringcast::ws::FrameEventType::kNone) continue;
      const uint8_t* d = step.event.data;
      if (d != nullptr && d >= chunk.data() && d < chunk.data() + n) out.in_place++;
      out.events.push_back(describe(step.event));
    }
  }
  return out;
}

// Whole, byte by byte, and at several random split points: all must agree with expected.
inline void expect_events_every_split(const std::vector<uint8_t>& input,
                                      const std::vector<std::string>& expected,
                                      ringcast::ws::FrameLimits limits = {}, bool deflate = false) {
  for (Split how : {Split::kWhole, Split::kBytewise, Split::kRandom}) {
    const int seeds = how == Split::kRandom ? 8 : 1;
    for (int seed = 1; seed <= seeds; seed++) {
      const FeedResult r = feed_frames(input, how, uint64_t(seed), limits, deflate);
      if (r.events != expected) {
        report_failure(__FILE__, __LINE__,
                       std::string(split_name(how)) + " split, seed " + std::to_string(seed) + ": got " +
                           show(r.events) + " want " + show(expected));
      }
    }
  }
}

}  // namespace wstest
