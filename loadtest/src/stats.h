// What the generator counts. Totals run from the first publish; the window figures only while
// measuring; the tick figures are reset by each progress line.
#pragma once
#include <cstdint>
#include <string>

#include "histogram.h"

namespace loadgen {

struct Stats {
  uint64_t publishes = 0;  // written (or queued to write), all phases
  uint64_t publishes_window = 0;
  uint64_t publish_timeouts = 0;    // closed loop: given up after --publish-timeout
  uint64_t publish_backlogged = 0;  // open loop: skipped, the server was not reading
  uint64_t acks = 0;
  uint64_t errors = 0;  // err replies
  std::string first_error;
  uint64_t deliveries = 0;  // all phases
  uint64_t deliveries_window = 0;
  uint64_t deliveries_tick = 0;
  uint64_t unstamped = 0;   // msg frames without our timestamp (someone else's)
  uint64_t unexpected = 0;  // frames we cannot read as protocol v1
  uint64_t duplicates = 0, reordered = 0, gaps = 0;
  uint64_t closed_by_server = 0;
  uint64_t bytes_in = 0;
  uint64_t compressed = 0;  // messages that arrived compressed (permessage-deflate)
  Histogram latency;        // window, ns
  Histogram latency_tick;   // since the last progress line, ns
};

}  // namespace loadgen
