// Sizing the pinned memory from RLIMIT_MEMLOCK. For a non-root user the ring (SQEs, SQ and CQ
// arrays) and every registered buffer count against one per-user budget (8 MiB by default,
// shared by every worker of that uid; measured on 6.18 as uid 65534). Root (CAP_IPC_LOCK) is not
// limited. Provided receive buffers are not pinned: only their 16-byte descriptors are.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {

struct SizingRequest {
  uint32_t sq_entries;
  uint32_t cq_entries;
  uint32_t recv_buffers;
  uint32_t workers;  // rings of this uid sharing the budget (worker threads of one process)
};

struct Sizing {
  uint64_t memlock_limit = 0;  // bytes; UINT64_MAX when unlimited
  bool unlimited = false;
  uint32_t sq_entries = 0;
  uint32_t cq_entries = 0;
  uint32_t recv_buffers = 0;
  uint32_t recv_buffer_size = 0;  // filled in by the engine
  uint64_t pinned_bytes = 0;      // our estimate of what counts against the limit
  uint32_t workers = 1;           // rings sharing the budget: each is sized for its share
  // "memlock=8MiB sq=4096 cq=16384 bufs=1024x16384 pinned=1.3MiB"; with workers: "memlock=8MiB/4 ..."
  std::string describe() const;
};

// Estimated pinned bytes of a ring: 64-byte SQEs, 16-byte CQEs, 4-byte SQ index, page-rounded.
uint64_t ring_pinned_bytes(uint32_t sq, uint32_t cq);
// Halves the request until it fits in half of this worker's share of the limit (the other half
// is headroom for a restart that meets a ring not yet unaccounted).
Sizing plan_sizing(const SizingRequest& req);

}  // namespace ringcast
