#include "engine/memlock.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "engine/uring_abi.h"

namespace ringcast {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint32_t kMinEntries = 64;
constexpr uint32_t kMinBuffers = 64;

uint64_t page_round(uint64_t n) { return (n + kPage - 1) / kPage * kPage; }

bool memlock_unlimited(uint64_t* limit) {
  rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) rl.rlim_cur = 8u << 20;
  *limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
  return rl.rlim_cur == RLIM_INFINITY || geteuid() == 0;
}

void format_bytes(char* out, size_t len, uint64_t n) {
  if (n == UINT64_MAX) {
    std::snprintf(out, len, "unlimited");
  } else if (n >= (1u << 20)) {
    std::snprintf(out, len, "%.1fMiB", static_cast<double>(n) / (1u << 20));
  } else {
    std::snprintf(out, len, "%.1fKiB", static_cast<double>(n) / 1024);
  }
}

}  // namespace

uint64_t ring_pinned_bytes(uint32_t sq, uint32_t cq) {
  return page_round(uint64_t{sq} * sizeof(io_uring_sqe)) +
         page_round(uint64_t{cq} * sizeof(io_uring_cqe) + uint64_t{sq} * 4 + 256);
}

Sizing plan_sizing(const SizingRequest& req) {
  Sizing s;
  s.unlimited = memlock_unlimited(&s.memlock_limit);
  s.sq_entries = req.sq_entries;
  s.cq_entries = req.cq_entries;
  s.recv_buffers = req.recv_buffers;
  s.workers = req.workers ? req.workers : 1;
  auto pinned = [&] {
    return ring_pinned_bytes(s.sq_entries, s.cq_entries) + page_round(uint64_t{s.recv_buffers} * 16);
  };
  if (!s.unlimited) {
    uint64_t budget = s.memlock_limit / s.workers / 2;
    while (pinned() > budget && s.sq_entries > kMinEntries) {
      s.sq_entries /= 2;
      s.cq_entries /= 2;
    }
    while (pinned() > budget && s.recv_buffers > kMinBuffers) s.recv_buffers /= 2;
  }
  s.pinned_bytes = pinned();
  return s;
}

std::string Sizing::describe() const {
  char limit[32], share[16] = "", pin[32], out[176];
  format_bytes(limit, sizeof limit, unlimited ? UINT64_MAX : memlock_limit);
  if (workers > 1 && !unlimited) std::snprintf(share, sizeof share, "/%u", workers);
  format_bytes(pin, sizeof pin, pinned_bytes);
  std::snprintf(out, sizeof out, "memlock=%s%s sq=%u cq=%u bufs=%ux%u pinned=%s", limit, share, sq_entries,
                cq_entries, recv_buffers, recv_buffer_size, pin);
  return out;
}

}  // namespace ringcast
