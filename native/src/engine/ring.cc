#include "engine/ring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ringcast {

namespace {

// Flag sets tried in order; each step drops what an older kernel rejects with EINVAL.
// DEFER_TASKRUN [6.1] needs SINGLE_ISSUER [6.0]; NO_SQARRAY [6.6]; COOP_TASKRUN [5.19].
constexpr uint32_t kBase = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
constexpr uint32_t kFlagSteps[] = {
    kBase | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
        IORING_SETUP_NO_SQARRAY,
    kBase | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    kBase | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
        IORING_SETUP_NO_SQARRAY,
    kBase | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    kBase,
};
// With SQPOLL [5.11 unprivileged; ATTACH_WQ shares the SQ thread since 5.12] the *_TASKRUN
// flags are refused (EINVAL, 6.18: completions run as the SQ thread's task work, not ours).
// SINGLE_ISSUER is kept: the SQ thread is then the only submitter, and we the only registrar.
constexpr uint32_t kSqpollSteps[] = {
    kBase | IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_NO_SQARRAY,
    kBase | IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER,
    kBase | IORING_SETUP_SQPOLL,
};
constexpr uint32_t kMinEntries = 64;
// A ring freed by a process that just exited is unaccounted asynchronously (measured on 6.18),
// so one ENOMEM is worth one short wait before we shrink.
constexpr useconds_t kEnomemRetryWaitUs = 50 * 1000;

template <typename T>
T* at(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

Ring::~Ring() { destroy(); }

void Ring::destroy() {
  if (sqes_) munmap(sqes_, sqes_len_);
  if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_len_);
  if (sq_map_) munmap(sq_map_, sq_map_len_);
  if (fd_ >= 0) close(fd_);
  sqes_ = nullptr;
  cq_map_ = sq_map_ = nullptr;
  fd_ = -1;
}

int Ring::init(const RingConfig& config) {
  uint32_t sq = std::max(config.sq_entries, kMinEntries);
  uint32_t cq = std::max(config.cq_entries, sq);
  bool waited = false;
  for (;;) {
    int err = -EINVAL;
    if (config.sqpoll_idle_ms > 0) {
      // No step without SQPOLL: a refusal is the caller's to report (the server falls back).
      for (uint32_t flags : kSqpollSteps) {
        err = try_setup(sq, cq, flags, config);
        if (err != -EINVAL) break;
      }
    } else {
      for (uint32_t flags : kFlagSteps) {
        if (!config.defer_taskrun && (flags & IORING_SETUP_DEFER_TASKRUN)) continue;
        err = try_setup(sq, cq, flags, config);
        if (err != -EINVAL) break;
      }
    }
    if (err != -ENOMEM) return err;
    if (!waited) {
      waited = true;
      usleep(kEnomemRetryWaitUs);
      continue;
    }
    if (sq <= kMinEntries) return err;
    sq /= 2;
    cq /= 2;
  }
}

int Ring::try_setup(uint32_t sq, uint32_t cq, uint32_t flags, const RingConfig& config) {
  io_uring_params p;
  std::memset(&p, 0, sizeof p);
  p.flags = flags;
  p.cq_entries = cq;
  if (flags & IORING_SETUP_SQPOLL) {
    p.sq_thread_idle = config.sqpoll_idle_ms;
    if (config.sqpoll_attach_fd >= 0) {
      p.flags |= IORING_SETUP_ATTACH_WQ;
      p.wq_fd = static_cast<uint32_t>(config.sqpoll_attach_fd);
    }
  }
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, sq, &p));
  if (fd < 0) return -errno;
  fd_ = fd;
  flags_ = p.flags;
  features_ = p.features;
  int err = map_rings(p);
  if (err < 0) {
    destroy();
    return err;
  }
  return 0;
}

int Ring::map_rings(const io_uring_params& p) {
  sq_entries_ = p.sq_entries;
  cq_entries_ = p.cq_entries;
  bool sq_array = !(flags_ & IORING_SETUP_NO_SQARRAY);
  size_t sq_len = sq_array ? p.sq_off.array + p.sq_entries * sizeof(uint32_t) : 0;
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  bool single = features_ & IORING_FEAT_SINGLE_MMAP;
  if (single) sq_len = cq_len = std::max(sq_len, cq_len);
  if (!sq_array && !single) return -EINVAL;  // NO_SQARRAY [6.6] implies SINGLE_MMAP [5.4]

  sq_map_len_ = sq_len ? sq_len : cq_len;
  sq_map_ =
      mmap(nullptr, sq_map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
  if (sq_map_ == MAP_FAILED) return sq_map_ = nullptr, -errno;
  if (single) {
    cq_map_ = sq_map_;
  } else {
    cq_map_len_ = cq_len;
    cq_map_ =
        mmap(nullptr, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
    if (cq_map_ == MAP_FAILED) return cq_map_ = nullptr, -errno;
  }
  sqes_len_ = p.sq_entries * sizeof(io_uring_sqe);
  void* sqes =
      mmap(nullptr, sqes_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) return -errno;
  sqes_ = static_cast<io_uring_sqe*>(sqes);

  k_sq_head_ = at<uint32_t>(sq_map_, p.sq_off.head);
  k_sq_tail_ = at<uint32_t>(sq_map_, p.sq_off.tail);
  k_sq_flags_ = at<uint32_t>(sq_map_, p.sq_off.flags);
  sq_mask_ = *at<uint32_t>(sq_map_, p.sq_off.ring_mask);
  k_cq_head_ = at<uint32_t>(cq_map_, p.cq_off.head);
  k_cq_tail_ = at<uint32_t>(cq_map_, p.cq_off.tail);
  k_cq_overflow_ = at<uint32_t>(cq_map_, p.cq_off.overflow);
  cq_mask_ = *at<uint32_t>(cq_map_, p.cq_off.ring_mask);
  cqes_ = at<io_uring_cqe>(cq_map_, p.cq_off.cqes);
  if (sq_array) {
    // Identity mapping, written once: SQE i always sits in array slot i.
    uint32_t* array = at<uint32_t>(sq_map_, p.sq_off.array);
    for (uint32_t i = 0; i < p.sq_entries; i++) array[i] = i;
  }
  sq_tail_ = sq_submitted_ = *k_sq_tail_;
  return 0;
}

uint32_t Ring::sq_space() const {
  return sq_entries_ - (sq_tail_ - __atomic_load_n(k_sq_head_, __ATOMIC_ACQUIRE));
}

io_uring_sqe* Ring::get_sqe() {
  if (sqe_failures_) {
    sqe_failures_--;
    return nullptr;
  }
  uint32_t head = __atomic_load_n(k_sq_head_, __ATOMIC_ACQUIRE);
  if (sq_tail_ - head >= sq_entries_) {
    if (submit(0) < 0) return nullptr;
    head = __atomic_load_n(k_sq_head_, __ATOMIC_ACQUIRE);
    // With SQPOLL the thread takes the entries in its own time: wait until it has made room.
    if (sq_tail_ - head >= sq_entries_ && sqpoll() && enter(0, 0, IORING_ENTER_SQ_WAIT, nullptr, 0) >= 0) {
      head = __atomic_load_n(k_sq_head_, __ATOMIC_ACQUIRE);
    }
    if (sq_tail_ - head >= sq_entries_) return nullptr;
  }
  io_uring_sqe* sqe = &sqes_[sq_tail_ & sq_mask_];
  std::memset(sqe, 0, sizeof *sqe);
  sq_tail_++;
  return sqe;
}

int Ring::enter(uint32_t to_submit, uint32_t min_complete, uint32_t flags, const void* arg, size_t argsz) {
  enters_++;
  for (;;) {
    long r = syscall(__NR_io_uring_enter, fd_, to_submit, min_complete, flags, arg, argsz);
    if (r >= 0) return static_cast<int>(r);
    if (errno != EINTR) return -errno;
  }
}

uint32_t Ring::publish_tail() {
  __atomic_store_n(k_sq_tail_, sq_tail_, __ATOMIC_RELEASE);
  if (!sqpoll()) return 0;
  // The SQ thread sets NEED_WAKEUP, then looks at the tail once more before it sleeps; we store
  // the tail, then look at the flag. Without a full barrier between our store and our load both
  // could miss the other (store-load reordering), and the SQEs would sit until the next wake-up
  // (liburing's sq_ring_needs_enter does the same).
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!(__atomic_load_n(k_sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP)) return 0;
  sq_wakeups_++;
  return IORING_ENTER_SQ_WAKEUP;
}

int Ring::submit(uint32_t wait_nr) {
  uint32_t n = sq_tail_ - sq_submitted_;
  uint32_t flags = publish_tail();
  if (sqpoll()) {
    // The kernel runs no task work for us (the SQ thread does), but a CQ overflow is flushed
    // only inside an enter with GETEVENTS.
    const bool cq_flush = __atomic_load_n(k_sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW;
    if (wait_nr > 0 || cq_flush) flags |= IORING_ENTER_GETEVENTS;
    sq_submitted_ = sq_tail_;  // published is submitted: the thread takes them in any case
    if (flags == 0) return static_cast<int>(n);
    return enter(n, wait_nr, flags, nullptr, 0);  // n, or an error of the wait
  }
  int r = enter(n, wait_nr, IORING_ENTER_GETEVENTS, nullptr, 0);
  if (r < 0) return r;
  sq_submitted_ += static_cast<uint32_t>(r);
  return r;
}

int Ring::submit_and_wait_timeout(uint64_t timeout_ns) {
  uint32_t n = sq_tail_ - sq_submitted_;
  uint32_t flags = publish_tail();
  __kernel_timespec ts;
  ts.tv_sec = static_cast<int64_t>(timeout_ns / 1000000000u);
  ts.tv_nsec = static_cast<long long>(timeout_ns % 1000000000u);
  io_uring_getevents_arg arg;
  std::memset(&arg, 0, sizeof arg);
  arg.ts = reinterpret_cast<uint64_t>(&ts);
  if (sqpoll()) sq_submitted_ = sq_tail_;
  int r = enter(n, 1, flags | IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  if (r < 0 || sqpoll()) return r;
  sq_submitted_ += static_cast<uint32_t>(r);
  return r;
}

io_uring_cqe* Ring::peek_cqe() {
  uint32_t head = *k_cq_head_;  // only we write the head
  uint32_t tail = __atomic_load_n(k_cq_tail_, __ATOMIC_ACQUIRE);
  if (head == tail) return nullptr;
  return &cqes_[head & cq_mask_];
}

void Ring::cq_advance(uint32_t n) { __atomic_store_n(k_cq_head_, *k_cq_head_ + n, __ATOMIC_RELEASE); }

uint32_t Ring::cq_ready() const { return __atomic_load_n(k_cq_tail_, __ATOMIC_ACQUIRE) - *k_cq_head_; }

bool Ring::cq_overflowed() const {
  return __atomic_load_n(k_sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_CQ_OVERFLOW;
}

bool Ring::task_work_pending() const {
  return __atomic_load_n(k_sq_flags_, __ATOMIC_RELAXED) & IORING_SQ_TASKRUN;
}

int Ring::register_op(unsigned opcode, const void* arg, unsigned nr_args) {
  for (;;) {
    long r = syscall(__NR_io_uring_register, fd_, opcode, arg, nr_args);
    if (r >= 0) return static_cast<int>(r);
    if (errno != EINTR) return -errno;
  }
}

}  // namespace ringcast
