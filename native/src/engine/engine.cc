#include "engine/engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ringcast {

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

namespace {

constexpr uint16_t kBufferGroup = 0;
// After ENOMEM on the buffer ring: one wait for memory freed asynchronously, then halve.
constexpr useconds_t kEnomemRetryWaitUs = 50 * 1000;
// Bound on the teardown wait in ~Engine. Every connection is aborted (RST, queue dropped) before
// it, so what is waited for is only the kernel's answers to the cancels: microseconds each. The
// bound matters because ~Engine also runs from the Node-API finalizer when a worker thread of
// --workers is terminated: that thread, and Worker.terminate() in the thread waiting for it, stall
// for as long as this takes. Past it, abandon_pending() lets go without waiting.
constexpr uint64_t kShutdownWaitMs = 100;
constexpr int kShutdownPollMs = 10;

// Slot tables cost 64 B (ConnSlot) + 8 B (session pointer) + a fixed-file entry per slot, so
// 20,000 fds cost ~1.5 MiB up front and the 262,144-slot ceiling ~19 MiB.
uint32_t slots_for(uint32_t wanted) {
  rlimit rl;
  uint32_t cap = kMaxSlots;
  if (wanted == 0) wanted = kMaxSlots;
  // The kernel refuses a fixed-file table larger than RLIMIT_NOFILE (EMFILE).
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cap) cap = static_cast<uint32_t>(rl.rlim_cur);
  return std::max<uint32_t>(1, std::min(wanted, cap));
}

int init_buffers(BufferRing* buffers, Ring& ring, uint32_t* count, uint32_t size) {
  bool waited = false;
  for (;;) {
    int r = buffers->init(ring, kBufferGroup, *count, size);
    if (r != -ENOMEM) return r;
    buffers->destroy();
    if (!waited) {
      waited = true;
      usleep(kEnomemRetryWaitUs);
    } else if (*count > 64) {
      *count /= 2;
    } else {
      return r;
    }
  }
}

}  // namespace

Engine::~Engine() {
  shutdown_all();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

int Engine::init(const EngineConfig& config) {
  config_ = config;
  sizing_ = plan_sizing({config.sq_entries, config.cq_entries, config.recv_buffers, config.workers});
  int r = ring_.init({sizing_.sq_entries, sizing_.cq_entries, config.defer_taskrun, config.sqpoll_idle_ms,
                      config.sqpoll_attach_fd});
  if (r < 0) return r;
  sizing_.sq_entries = ring_.sq_entries();
  sizing_.cq_entries = ring_.cq_entries();
  r = detect_features(ring_, &features_);
  if (r < 0) return r;
  uint32_t slots = slots_for(config.max_slots);
  r = files_.init(ring_, slots);
  if (r < 0) return r;
  r = init_buffers(&buffers_, ring_, &sizing_.recv_buffers, config.recv_buffer_size);
  if (r < 0) return r;
  sizing_.recv_buffer_size = config.recv_buffer_size;
  sizing_.pinned_bytes = ring_pinned_bytes(sizing_.sq_entries, sizing_.cq_entries) +
                         uint64_t{sizing_.recv_buffers} * sizeof(io_uring_buf);
  conns_.assign(slots, ConnSlot{});
  admitting_ = true;
  return 0;
}

// An IPv4 or IPv6 literal ("0.0.0.0", "127.0.0.1", "::", "::1") into a socket address.
static bool parse_host(const char* host, uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof *ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
    return true;
  }
  return false;
}

int Engine::listen(const char* host, uint16_t port) {
  if (listen_fd_ >= 0) return -EBUSY;  // one listener per engine (one engine per worker)
  if (!admitting_) return -ESHUTDOWN;
  sockaddr_storage addr;
  socklen_t len;
  if (!parse_host(host, port, &addr, &len)) return -EINVAL;
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // One worker per core, each with its own ring and listener on the same port (DESIGN.md).
  if (config_.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0 || ::listen(fd, config_.backlog) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    int err = -errno;
    ::close(fd);
    return err;
  }
  listen_fd_ = fd;
  accepting_ = true;
  arm_accept();
  int r = ring_.submit(0);
  if (r < 0) return r;
  return addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

void Engine::stop_accepting() {
  admitting_ = false;
  if (!accepting_) return;
  accepting_ = false;
  // Shutting the listener down ends the multishot accept (its final CQE arrives at a later poll).
  ::shutdown(listen_fd_, SHUT_RDWR);
}

int Engine::poll(int timeout_ms) {
  release_batch();
  // Events caused by calls made after the last poll (a close, an overflow inside send) open
  // this batch, in the order they happened.
  batch_.swap(next_);
  int r;
  if (timeout_ms == 0) {
    r = ring_.submit(0);
  } else if (timeout_ms < 0) {
    r = ring_.submit(1);
  } else {
    r = ring_.submit_and_wait_timeout(uint64_t(timeout_ms) * 1000000u);
  }
  if (r > 0) stats_.sqes_submitted += static_cast<uint64_t>(r);
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) return r;
  reaping_ = true;
  reap();
  // A full CQ parks completions in the kernel's overflow list; one more enter flushes them.
  while (ring_.cq_overflowed()) {
    ring_.submit(0);
    reap();
  }
  // A kernel may run only a bounded batch of deferred completions per enter, and signals the
  // eventfd only when that work list goes from empty to non-empty: what it left behind
  // (IORING_SQ_TASKRUN, with TASKRUN_FLAG) would wait for an unrelated wake-up. Run it now.
  for (int round = 0; round < kTaskRunRounds && ring_.task_work_pending(); round++) {
    ring_.submit(0);
    stats_.taskrun_rounds++;
    reap();
  }
  expire_closes();
  reaping_ = false;
  buffers_.publish();
  return static_cast<int>(batch_.size());
}

bool Engine::work_pending() const {
  return ring_.task_work_pending() || ring_.cq_ready() > 0 || ring_.cq_overflowed();
}

void Engine::reap() {
  while (io_uring_cqe* cqe = ring_.peek_cqe()) {
    stats_.cqes_reaped++;
    io_uring_cqe copy = *cqe;
    ring_.cq_advance(1);  // before the handler: it may submit, which may post more CQEs
    int op = static_cast<int>(user_data_op(copy.user_data));
    if (op >= static_cast<int>(Op::kCount)) op = 0;
    Handler handler = kHandlers[op];
    (this->*handler)(copy);
  }
}

void Engine::release_batch() {
  for (uint16_t bid : held_bids_) buffers_.recycle(bid);
  if (!held_bids_.empty()) buffers_.publish();
  held_bids_.clear();
  batch_.clear();
}

void Engine::emit(EventType type, ConnId conn, int32_t status) {
  Event e;
  std::memset(&e, 0, sizeof e);
  e.type = type;
  e.conn = conn;
  e.status = status;
  (reaping_ ? batch_ : next_).push_back(e);
}

ConnSlot* Engine::live(ConnId id) {
  uint32_t slot = conn_slot(id);
  if (slot >= conns_.size()) return nullptr;
  ConnSlot& c = conns_[slot];
  if (c.state != ConnState::kOpen || c.gen != conn_gen(id)) return nullptr;
  return &c;
}

int Engine::fd_of(ConnId conn) const {
  uint32_t slot = conn_slot(conn);
  if (slot >= conns_.size()) return -ENOTCONN;
  const ConnSlot& c = conns_[slot];
  if (c.state != ConnState::kOpen || c.gen != conn_gen(conn)) return -ENOTCONN;
  return c.fd;
}

void Engine::push(ConnSlot& c, Frame* f) {
  queue_push(&c.q, &nodes_, f);
  stats_.bytes_queued += f->len;
  if (c.q.bytes > config_.drain_mark) c.set(kDrainWanted);
}

void Engine::mark_dirty(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  if (c.has(kDirty)) return;
  c.set(kDirty);
  dirty_.push_back(slot);
}

void Engine::mark_rearm(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  if (c.has(kNeedRecv)) return;
  c.set(kNeedRecv);
  rearm_.push_back(slot);
}

int Engine::send(ConnId conn, Frame* f) {
  ConnSlot* c = live(conn);
  if (!c || c->has(kCloseAfterDrain)) return -ENOTCONN;
  if (c->has(kOverflowed)) return -ENOBUFS;
  if (c->q.bytes + f->len > config_.max_outbound) {
    overflow(conn_slot(conn), *c);
    return -ENOBUFS;
  }
  push(*c, f);
  mark_dirty(conn_slot(conn));
  return 0;
}

size_t Engine::fanout(const ConnId* conns, size_t n, Frame* f) {
  // Subscribers' slots come in no particular order, and the kernel's work between turns has
  // evicted the ConnSlot array: fetch each ConnSlot (one cache line) a few ids ahead of its send().
  constexpr size_t kAhead = 8;
  size_t queued = 0;
  size_t slots = conns_.size();
  for (size_t i = 0; i < n; i++) {
    if (i + kAhead < n) {
      uint32_t ahead = conn_slot(conns[i + kAhead]);
      if (ahead < slots) __builtin_prefetch(&conns_[ahead], 1);
    }
    queued += send(conns[i], f) == 0;
  }
  return queued;
}

void Engine::overflow(uint32_t slot, ConnSlot& c) {
  // Keep what the kernel is sending (and a partly sent head): cutting a frame in half would
  // corrupt the stream the close frame has to follow.
  uint32_t keep = c.inflight ? send_ops_.at(c.inflight - 1)->n : (c.q.head_off ? 1 : 0);
  uint64_t before = c.q.bytes;
  queue_truncate(&c.q, &nodes_, keep);
  stats_.bytes_queued -= before - c.q.bytes;
  c.set(kOverflowed);
  stats_.overflows++;
  emit(EventType::kOverflow, make_conn_id(slot, c.gen), -ENOBUFS);
}

int Engine::close(ConnId conn, CloseMode mode, Frame* last) {
  ConnSlot* c = live(conn);
  if (!c) return -ENOTCONN;
  uint32_t slot = conn_slot(conn);
  if (mode == CloseMode::kAbort) {
    abort(slot, kAborted);
    return 0;
  }
  if (c->has(kCloseAfterDrain)) return -EALREADY;
  if (last) push(*c, last);
  c->set(kCloseAfterDrain);
  closing_.push_back({conn, monotonic_ms() + config_.close_timeout_ms});
  if (c->q.empty() && !c->inflight) {
    finish_close(slot);
  } else {
    mark_dirty(slot);
  }
  return 0;
}

// Everything queued is sent: end our side. With the peer's FIN already read there is nothing
// left to drain; otherwise SHUT_WR and keep reading (discarding) until its FIN or the deadline,
// so that a peer still sending gets our last bytes and a FIN, not a reset (RFC 7230 6.6).
void Engine::finish_close(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  if (c.has(kPeerEof)) {
    teardown(slot, kClosedLocal);
  } else if (!c.has(kLinger)) {
    submit_shutdown(slot);
  }
}

void Engine::abort(uint32_t slot, int32_t reason) {
  linger lg = {1, 0};  // close() then sends RST and discards unsent data
  setsockopt(conns_[slot].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  teardown(slot, reason);
}

// Graceful closes past close_timeout_ms: a peer that does not read (its queue cannot drain)
// or never sends its FIN. The deque is in deadline order; entries of connections that ended
// meanwhile are dropped as they reach the front.
void Engine::expire_closes() {
  if (closing_.empty()) return;
  const uint64_t now = monotonic_ms();
  while (!closing_.empty()) {
    const Closing& front = closing_.front();
    ConnSlot* c = live(front.conn);
    if (c && c->has(kCloseAfterDrain)) {
      if (front.deadline_ms > now) return;
      stats_.close_timeouts++;
      abort(conn_slot(front.conn), kCloseTimedOut);
    }
    closing_.pop_front();
  }
}

// The id goes stale at once (generation bump) and the event is emitted; the slot and its fd
// are released only when the kernel has answered every op on it (maybe_free).
void Engine::teardown(uint32_t slot, int32_t reason) {
  ConnSlot& c = conns_[slot];
  if (c.state != ConnState::kOpen) return;
  emit(EventType::kClosed, make_conn_id(slot, c.gen), reason);
  c.state = ConnState::kClosing;
  c.gen = static_cast<uint16_t>(next_gen(c.gen));
  stats_.bytes_queued -= c.q.bytes;
  queue_clear(&c.q, &nodes_);
  stats_.closed++;
  if (c.pending) {
    submit_cancel(slot);
  } else {
    maybe_free(slot);
  }
}

void Engine::maybe_free(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  if (c.state != ConnState::kClosing || c.pending) return;
  files_.remove(slot);
  ::close(c.fd);
  uint16_t gen = c.gen;
  c = ConnSlot{};
  c.gen = gen;
  stats_.live_slots--;
}

int Engine::flush() {
  if (accept_wanted_) {
    stats_.accept_rearms++;
    arm_accept();
  }
  for (uint32_t slot : rearm_) {
    ConnSlot& c = conns_[slot];
    c.clear(kNeedRecv);
    if (c.state != ConnState::kOpen || c.has(kRecvArmed) || c.has(kPeerEof)) continue;
    arm_recv(slot);
  }
  rearm_.clear();
  for (uint32_t slot : dirty_) {
    conns_[slot].clear(kDirty);
    start_send(slot);
  }
  dirty_.clear();
  if (ring_.sq_pending() == 0) return 0;
  int r = ring_.submit(0);
  if (r > 0) stats_.sqes_submitted += static_cast<uint64_t>(r);
  return r;
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.live_frames = frame_counters_.live;
  s.frame_bytes = frame_counters_.live_bytes;
  s.queue_nodes = nodes_.live();
  s.buffers_out = buffers_.out();
  s.sends_in_flight = send_ops_.live();
  s.enters = ring_.enters();
  s.sq_wakeups = ring_.sq_wakeups();
  return s;
}

void Engine::shutdown_all() {
  if (!ring_.ready()) return;
  stop_accepting();
  for (uint32_t slot = 0; slot < conns_.size(); slot++) {
    ConnSlot& c = conns_[slot];
    if (c.state != ConnState::kOpen) continue;
    abort(slot, kShutdown);
  }
  // Reap at least once: without DEFER_TASKRUN the kernel may already have completed accepts
  // (real fds in CQEs nobody reaped). on_accepted() closes them now that admitting_ is false.
  poll(0);
  const uint64_t deadline = monotonic_ms() + kShutdownWaitMs;
  for (uint64_t now = monotonic_ms(); (stats_.live_slots || send_ops_.live()) && now < deadline;
       now = monotonic_ms()) {
    poll(static_cast<int>(std::min<uint64_t>(kShutdownPollMs, deadline - now)));
  }
  release_batch();
  if (stats_.live_slots || send_ops_.live()) {
    abandon_pending();
    return;
  }
  buffers_.destroy();
  ring_.destroy();
}

// The kernel has not answered some op within kShutdownWaitMs. Its fd is closed here (the ring
// holds its own reference, dropped when the ring goes: the socket is freed then, with an RST,
// SO_LINGER 0 having been set by abort()), so no fd outlives the engine. But until the ring's
// teardown, which the kernel finishes asynchronously after close(), an op may still write into
// a receive buffer or read a frame or a SendOp: that memory is left allocated (a bounded leak,
// in a case the tests never reach) rather than freed under the kernel's feet.
void Engine::abandon_pending() {
  for (ConnSlot& c : conns_) {
    if (c.state == ConnState::kFree || c.fd < 0) continue;
    ::close(c.fd);
    c.fd = -1;
  }
  ring_.destroy();
  buffers_.abandon();
  send_ops_.abandon_live();
}

}  // namespace ringcast
