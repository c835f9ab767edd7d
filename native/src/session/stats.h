// Everything the native side reports: the engine's list (engine/stats.h) and the session
// layer's, in one list the binding walks (see engine/stats.h for the columns).
#pragma once

#include <cstdint>

#include "engine/stats.h"

namespace ringcast {

#define RINGCAST_SESSION_STATS(X)                                                                           \
  X(sessions, sessions, kGauge, "ringcast_ring_sessions", "connections with a session (HTTP or WebSocket)") \
  X(session_buffer_bytes, sessionBufferBytes, kGauge, "ringcast_ring_session_buffer_bytes",                 \
    "bytes of input and message-assembly buffers held by connections")                                      \
  X(deflated_bytes_out, deflatedBytesOut, kCounter, "ringcast_bytes_out_compressed_total",                  \
    "bytes of permessage-deflate msg frames queued to subscribers that negotiated it (frame size x "        \
    "receivers)")                                                                                           \
  X(deflated_source_bytes, deflatedSourceBytes, kCounter, "ringcast_bytes_out_compressed_source_total",     \
    "uncompressed bytes those compressed frames stood for (their part of ringcast_bytes_out_total)")

#define RINGCAST_STATS(X) RINGCAST_ENGINE_STATS(X) RINGCAST_SESSION_STATS(X)

struct Stats {
#define RINGCAST_STAT_FIELD(field, key, kind, metric, help) uint64_t field = 0;
  RINGCAST_STATS(RINGCAST_STAT_FIELD)
#undef RINGCAST_STAT_FIELD
};

}  // namespace ringcast
