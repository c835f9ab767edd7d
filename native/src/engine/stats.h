// The engine's counters and gauges, declared once. EngineStats is made from this list; the
// session layer appends its own (session/stats.h), and the binding turns the whole list into
// the object stats() returns and into the table server/metrics.ts registers: every row reaches
// JavaScript and /metrics with no other edit.
//
//   X(field, jsKey, kind, metric, help)
//   kind: kCounter (only grows) or kGauge (a level); metric: the Prometheus name.
#pragma once

#include <cstdint>

namespace ringcast {

enum class StatKind : uint8_t { kCounter, kGauge };

#define RINGCAST_ENGINE_STATS(X)                                                                         \
  X(live_slots, liveSlots, kGauge, "ringcast_ring_live_slots",                                           \
    "connection slots in use (TCP connections, HTTP or WebSocket, closing ones included)")               \
  X(live_frames, liveFrames, kGauge, "ringcast_ring_live_frames",                                        \
    "encoded frames still referenced by a queue or a send")                                              \
  X(frame_bytes, frameBytes, kGauge, "ringcast_ring_frame_bytes", "bytes of those frames")               \
  X(bytes_queued, bytesQueued, kGauge, "ringcast_ring_bytes_queued",                                     \
    "bytes queued to connections and not yet sent")                                                      \
  X(queue_nodes, queueNodes, kGauge, "ringcast_ring_queue_nodes",                                        \
    "outbound queue nodes in use (frames queued past the two a connection holds inline)")                \
  X(buffers_out, buffersOut, kGauge, "ringcast_ring_recv_buffers_out",                                   \
    "receive buffers lent to the current batch")                                                         \
  X(sends_in_flight, sendsInFlight, kGauge, "ringcast_ring_sends_in_flight",                             \
    "sends the kernel has not completed")                                                                \
  X(accepted, accepted, kCounter, "ringcast_ring_accepted_total", "TCP connections accepted")            \
  X(rejected, rejected, kCounter, "ringcast_ring_rejected_total",                                        \
    "TCP connections closed at once because every slot was taken (--ring-slots)")                        \
  X(closed, closed, kCounter, "ringcast_ring_closed_total", "TCP connections ended")                     \
  X(overflows, overflows, kCounter, "ringcast_ring_overflows_total",                                     \
    "connections past --max-outbound in the engine")                                                     \
  X(stale_cqes, staleCqes, kCounter, "ringcast_ring_stale_cqes_total",                                   \
    "completions for connections already closed")                                                        \
  X(accept_backoffs, acceptBackoffs, kCounter, "ringcast_ring_accept_backoffs_total",                    \
    "accept pauses after EMFILE/ENFILE")                                                                 \
  X(recv_rearms, recvRearms, kCounter, "ringcast_ring_recv_rearms_total", "multishot receives re-armed") \
  X(sends, sends, kCounter, "ringcast_ring_sends_total",                                                 \
    "gathered sends started (one per connection per flush at most)")                                     \
  X(zc_sends, zcSends, kCounter, "ringcast_ring_zc_sends_total", "zero-copy (SENDMSG_ZC) sends started") \
  X(single_sends, singleSends, kCounter, "ringcast_ring_single_sends_total",                             \
    "sends of one frame, as SEND instead of SENDMSG")                                                    \
  X(copied_sends, copiedSends, kCounter, "ringcast_ring_copied_sends_total",                             \
    "sends of two or more small frames copied together, as one SEND")                                    \
  X(short_sends, shortSends, kCounter, "ringcast_ring_short_sends_total",                                \
    "sends the kernel took only part of (the rest went first in the next send)")                         \
  X(enters, enters, kCounter, "ringcast_ring_enters_total", "io_uring_enter calls")                      \
  X(sq_wakeups, sqWakeups, kCounter, "ringcast_ring_sq_wakeups_total",                                   \
    "io_uring_enter calls that woke the idle SQPOLL thread (--sqpoll)")                                  \
  X(sqes_submitted, sqesSubmitted, kCounter, "ringcast_ring_sqes_submitted_total",                       \
    "SQEs taken by the kernel")                                                                          \
  X(cqes_reaped, cqesReaped, kCounter, "ringcast_ring_cqes_reaped_total", "CQEs reaped")                 \
  X(recv_enobufs, recvEnobufs, kCounter, "ringcast_ring_recv_enobufs_total",                             \
    "multishot receives ended by an empty buffer ring (re-armed)")                                       \
  X(taskrun_rounds, taskrunRounds, kCounter, "ringcast_ring_taskrun_rounds_total",                       \
    "extra io_uring_enter calls a poll made for deferred task work the kernel left pending")             \
  X(close_timeouts, closeTimeouts, kCounter, "ringcast_close_timeouts_total",                            \
    "connections aborted because they did not finish closing within --close-timeout")                    \
  X(accept_rearms, acceptRearms, kCounter, "ringcast_ring_accept_rearms_total",                          \
    "accepts re-armed at a later turn because no SQE could be had")

struct EngineStats {
#define RINGCAST_STAT_FIELD(field, key, kind, metric, help) uint64_t field = 0;
  RINGCAST_ENGINE_STATS(RINGCAST_STAT_FIELD)
#undef RINGCAST_STAT_FIELD
};

}  // namespace ringcast
