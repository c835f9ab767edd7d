// Engine state of one connection, indexed by its fixed-file slot: 64 bytes, one cache line,
// whether idle or with up to kInlineFrames frames queued (fanout touches nothing else per
// connection). Receive memory belongs to the shared buffer ring, send state to the SendOp pool.
#pragma once

#include <cstdint>

#include "engine/outbound.h"

namespace ringcast {

enum class ConnState : uint8_t {
  kFree,     // slot unused
  kOpen,     // id valid, I/O running
  kClosing,  // id already stale; waiting for the kernel to finish every op before the slot frees
};

enum ConnFlag : uint8_t {
  kRecvArmed = 1 << 0,        // a multishot recv is in the kernel
  kNeedRecv = 1 << 1,         // queued for re-arm at the next flush
  kDirty = 1 << 2,            // queued for a send at the next flush
  kOverflowed = 1 << 3,       // hit the outbound limit; only close() may queue more
  kCloseAfterDrain = 1 << 4,  // close() was asked while frames were queued
  kDrainWanted = 1 << 5,      // queue passed the drain mark; emit kDrain when it empties
  kPeerEof = 1 << 6,          // the peer's FIN arrived: nothing more to read, recv not re-armed
  kLinger = 1 << 7,           // our SHUT_WR is submitted: reads are drained until FIN or deadline
};

struct alignas(64) ConnSlot {
  int fd = -1;       // the real fd, kept beside the fixed slot
  uint16_t gen = 0;  // generation of the current (or, when kClosing, next) id
  ConnState state = ConnState::kFree;
  uint8_t flags = 0;
  uint32_t pending = 0;   // ops whose final CQE has not arrived (recv, send, notif, cancel)
  uint32_t inflight = 0;  // SendOp::index + 1 of the send in flight; 0: none
  OutQueue q;

  bool has(uint8_t f) const { return flags & f; }
  void set(uint8_t f) { flags |= f; }
  void clear(uint8_t f) { flags &= static_cast<uint8_t>(~f); }
};
static_assert(sizeof(ConnSlot) == 64, "ConnSlot: one cache line");

}  // namespace ringcast
