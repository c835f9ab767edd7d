// The submission and completion rings: setup, mmap, and the memory ordering between us and the
// kernel. This is the only file that touches the shared ring indices. The contract (the seed
// io_uring paper): we load the CQ tail with acquire (the kernel wrote the CQE before publishing
// the tail), store the CQ head with release (the kernel may reuse the slot after it sees the
// head), load the SQ head with acquire and store the SQ tail with release (the SQE must be fully
// written before the kernel can see the tail move). With SQPOLL a kernel thread takes the SQEs:
// after the release store of the tail, a full barrier, then the SQ flags are read, and only
// IORING_SQ_NEED_WAKEUP (the thread went to sleep) costs an io_uring_enter.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/uring_abi.h"

namespace ringcast {

struct RingConfig {
  uint32_t sq_entries = 4096;
  uint32_t cq_entries = 16384;  // 4x SQ: multishot recv/accept post many CQEs per SQE
  // false: skip the DEFER_TASKRUN steps (COOP_TASKRUN instead). A caller woken by a registered
  // eventfd needs that: see EngineConfig::defer_taskrun.
  bool defer_taskrun = true;
  // > 0: IORING_SETUP_SQPOLL, a kernel thread polls the SQ and goes to sleep this many ms after
  // its last SQE (then one enter wakes it). The kernel refuses it with the *_TASKRUN flags, so
  // defer_taskrun is ignored. 0: off.
  uint32_t sqpoll_idle_ms = 0;
  // >= 0 with SQPOLL: IORING_SETUP_ATTACH_WQ, share the SQ thread of this ring fd (an SQPOLL
  // ring of the same process; EINVAL otherwise). -1: a thread of our own.
  int sqpoll_attach_fd = -1;
};

class Ring {
 public:
  Ring() = default;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Creates the ring, stepping down flags on EINVAL and entries on ENOMEM. Returns 0 or -errno.
  int init(const RingConfig& config);
  void destroy();

  bool ready() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  uint32_t setup_flags() const { return flags_; }
  uint32_t features() const { return features_; }
  uint32_t sq_entries() const { return sq_entries_; }
  uint32_t cq_entries() const { return cq_entries_; }
  bool sqpoll() const { return flags_ & IORING_SETUP_SQPOLL; }
  // io_uring_enter calls made, and those made only to wake the SQ thread (SQPOLL).
  uint64_t enters() const { return enters_; }
  uint64_t sq_wakeups() const { return sq_wakeups_; }

  // A zeroed SQE, or nullptr only if the SQ is full and submitting to make room failed.
  io_uring_sqe* get_sqe();
  uint32_t sq_pending() const { return sq_tail_ - sq_submitted_; }
  // SQEs get_sqe() can hand out before it has to submit.
  uint32_t sq_space() const;
  // Tests only: the next n get_sqe() calls fail as if the SQ were full and the kernel refused
  // the submit that would make room, so callers' "no SQE" paths can be driven on a real ring.
  void inject_sqe_failures(uint32_t n) { sqe_failures_ = n; }

  // Hands every prepared SQE to the kernel and, with wait_nr > 0, waits for that many CQEs.
  // Always passes GETEVENTS so DEFER_TASKRUN work runs. With SQPOLL it publishes the tail and
  // enters only to wait, to wake the SQ thread, or to flush a CQ overflow. Returns SQEs
  // submitted (published, with SQPOLL) or -errno.
  int submit(uint32_t wait_nr = 0);
  // As submit(1), with a timeout in nanoseconds (EXT_ARG, 5.11). -ETIME when nothing came.
  int submit_and_wait_timeout(uint64_t timeout_ns);

  // CQE access: peek one, then advance past it. The head is published once per advance batch.
  io_uring_cqe* peek_cqe();
  void cq_advance(uint32_t n);
  uint32_t cq_ready() const;
  bool cq_overflowed() const;
  // IORING_SQ_TASKRUN: completions are waiting as deferred task work until we enter.
  bool task_work_pending() const;

  int register_op(unsigned opcode, const void* arg, unsigned nr_args);

 private:
  int try_setup(uint32_t sq, uint32_t cq, uint32_t flags, const RingConfig& config);
  // Publishes the SQ tail; with SQPOLL returns the enter flags the submission needs (SQ_WAKEUP).
  uint32_t publish_tail();
  int map_rings(const io_uring_params& p);
  int enter(uint32_t to_submit, uint32_t min_complete, uint32_t flags, const void* arg, size_t argsz);

  int fd_ = -1;
  uint32_t flags_ = 0;
  uint32_t features_ = 0;
  uint32_t sq_entries_ = 0;
  uint32_t cq_entries_ = 0;

  // Memory shared with the kernel.
  void* sq_map_ = nullptr;
  size_t sq_map_len_ = 0;
  void* cq_map_ = nullptr;  // == sq_map_ with IORING_FEAT_SINGLE_MMAP
  size_t cq_map_len_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_len_ = 0;

  uint32_t* k_sq_head_ = nullptr;
  uint32_t* k_sq_tail_ = nullptr;
  uint32_t* k_sq_flags_ = nullptr;
  uint32_t sq_mask_ = 0;
  uint32_t* k_cq_head_ = nullptr;
  uint32_t* k_cq_tail_ = nullptr;
  uint32_t* k_cq_overflow_ = nullptr;
  uint32_t cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;

  // Our view: SQEs prepared up to sq_tail_, of which up to sq_submitted_ were published.
  uint32_t sq_tail_ = 0;
  uint32_t sq_submitted_ = 0;
  uint32_t sqe_failures_ = 0;
  uint64_t enters_ = 0;
  uint64_t sq_wakeups_ = 0;
};

}  // namespace ringcast
