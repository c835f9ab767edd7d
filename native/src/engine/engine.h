// The engine's API for the layer above (the session layer, src/session/, then the Node
// binding). No N-API here: connections are ConnIds, events come back in one batch per poll().
//
// A turn, as the binding's uv_poll callback on a registered eventfd runs it:
//   engine.poll(0);                          // one enter: runs deferred task work, reaps CQEs
//   for (const Event& e : engine.events())   // open / data / eof / closed / drain / overflow
//     ...                                    // may call send, fanout, close
//   engine.flush();                          // one enter: every send and re-arm of the turn
// Data spans stay valid until the next poll() or release_batch(). Events caused by calls made
// between two polls (kClosed from close(), kOverflow from send()) arrive with the next poll.
//
// A connection's life: kOpen -> (kData ...) -> [kEof] -> kClosed. The peer's FIN is kEof, not
// the end: every byte before it was delivered first, and the connection stays writable until
// the layer above calls close(). A graceful close sends what is queued, half-closes (SHUT_WR,
// linked behind the last send) and drains reads until the peer's FIN (a lingering close, so a
// peer still sending reads our last bytes instead of a reset); past close_timeout_ms it is
// aborted. kClosed comes when the connection is gone; its id is stale from then on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "engine/buffer_ring.h"
#include "engine/conn_slot.h"
#include "engine/features.h"
#include "engine/file_table.h"
#include "engine/frame.h"
#include "engine/memlock.h"
#include "engine/outbound.h"
#include "engine/ring.h"
#include "engine/stats.h"
#include "engine/user_data.h"

namespace ringcast {

// CLOCK_MONOTONIC in milliseconds: close deadlines here, request and ping timers above.
uint64_t monotonic_ms();

// Defaults for tests, fuzzers and benchmarks: the server passes every field it sets from
// config/defaults.ts (the binding requires each key), where the user-facing defaults live.
struct EngineConfig {
  // TCP connections held at once (the fixed-file slots); 0 = as many as RLIMIT_NOFILE allows
  // (at most kMaxSlots). Not --max-connections, which counts WebSockets above.
  uint32_t max_slots = 0;
  uint64_t max_outbound = 8u << 20;  // bytes queued per connection before the policy
  uint64_t drain_mark = 64u << 10;   // bytes; a queue past it emits kDrain when empty
  uint32_t sq_entries = 4096;
  uint32_t cq_entries = 16384;
  // Power of two, shared by every connection. Each buffer's first page is touched once used, so
  // the count is a fixed cost of idle RSS: 256 rather than 1024 saved ~3 MiB (150 B per
  // connection at 19,800). A connection storm then empties the ring now and then (ENOBUFS,
  // one re-arm each); measured: 19,800 connects took the same 1.4-1.5 s either way.
  uint32_t recv_buffers = 256;
  uint32_t recv_buffer_size = 16384;  // bytes
  uint32_t zc_threshold = 0;          // bytes per gathered send for SENDMSG_ZC; 0 = off
  uint32_t accept_backoff_ms = 100;   // after EMFILE/ENFILE
  // From close() to the connection's end: flushing its queue, then the lingering close. A peer
  // that reads nothing (or never sends its FIN) is aborted with RST when it passes, and its
  // queued frames are released.
  uint32_t close_timeout_ms = 5000;
  // Rings of this uid sharing RLIMIT_MEMLOCK (worker threads of one process, or processes): the
  // kernel charges every ring's pinned pages to the user, so each sizes itself to a 1/workers share.
  uint32_t workers = 1;
  int backlog = 511;
  bool reuse_port = false;  // SO_REUSEPORT, for one listener per worker
  // DEFER_TASKRUN posts completions only inside io_uring_enter; a registered eventfd is then
  // signalled when the kernel queues the work, from the socket's wake-up (softirq), where 6.18
  // defers the signal to an RCU callback: 12-16 ms later (docs/engine.md, "Waking the event
  // loop"). Callers that sleep in io_uring_enter keep it; the binding turns it off.
  bool defer_taskrun = true;
  // > 0: SQPOLL (docs/engine.md, "SQPOLL"): a kernel thread takes the SQEs and sleeps this many
  // ms after the last one; a flush() then costs no syscall while it is awake. Overrides
  // defer_taskrun (the kernel refuses both). A refusal fails init() with the kernel's errno.
  uint32_t sqpoll_idle_ms = 0;
  // With sqpoll_idle_ms: the fd of another SQPOLL ring of this process whose SQ thread this
  // ring shares (IORING_SETUP_ATTACH_WQ; one thread for every worker's ring). -1: its own.
  int sqpoll_attach_fd = -1;
};

enum class EventType : uint8_t {
  kOpen = 1,  // conn accepted
  kData,      // data/len: received bytes
  kEof,       // the peer's FIN, after every byte before it; still writable: call close()
  kClosed,    // status: CloseReason or -errno; the id is stale from now on
  kDrain,     // a queue that passed drain_mark is empty again
  kOverflow,  // queue would pass max_outbound: unsent frames dropped; call close()
};

// kClosed status values >= 0; negative values are the -errno that ended the connection.
enum CloseReason : int32_t {
  kClosedLocal = 1,    // close(): the queue was sent, the peer's FIN read (or it had come before)
  kAborted = 2,        // close(kAbort): RST, queue dropped
  kShutdown = 3,       // engine teardown
  kCloseTimedOut = 4,  // close() did not complete within close_timeout_ms: RST, queue dropped
};

struct Event {
  EventType type;
  uint8_t reserved;
  uint16_t bid;  // kData: provided buffer id, recycled by release_batch()
  ConnId conn;
  int32_t status;
  uint32_t len;
  uint8_t* data;  // kData: the consumer's until the batch is released (may unmask in place)
};

enum class CloseMode : uint8_t {
  kGraceful,  // send what is queued (plus `last`), SHUT_WR, drain reads until FIN or deadline
  kAbort,     // drop the queue, RST (SO_LINGER 0)
};

class Engine {
 public:
  // Extra enters poll() makes while the kernel reports deferred work pending (bounded, so a
  // flood cannot hold the JS thread; what remains is signalled through work_pending()).
  static constexpr int kTaskRunRounds = 8;

  Engine() = default;
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Ring, probe, fixed-file table, buffer ring. Returns 0 or -errno.
  int init(const EngineConfig& config);
  // Binds an IPv4 or IPv6 literal, listens and arms multishot accept. Returns the bound port
  // (port 0 picks one) or -errno (-EINVAL for a host that is not a literal: resolve above).
  int listen(const char* host, uint16_t port);
  // Stops taking connections, from the listener and through adopt(). Idempotent.
  void stop_accepting();
  // Installs a connected TCP socket accepted elsewhere (--workers: the main thread's acceptor) as
  // a new connection, as if the ring's own accept had produced it: kOpen at the next poll(), the
  // receive armed at the next flush() or poll(). Works without listen(). Ownership of fd always
  // passes: on any failure it is closed. Returns the ConnId or -errno: -EBADF (not an open fd),
  // -ENOTSOCK, -EPROTOTYPE (not a stream socket: UDP), -EAFNOSUPPORT (not IPv4/IPv6),
  // -EINVAL (a listening socket), -ENOTCONN (never connected, or reset already), -ESHUTDOWN
  // (after stop_accepting() or teardown), -ENFILE (every slot taken: counted in `rejected`).
  int64_t adopt(int fd);

  // Enters once (waiting up to timeout_ms, 0 = not at all, -1 = until a completion) and reaps
  // every CQE into events(). Releases the previous batch first. Returns events or -errno.
  int poll(int timeout_ms);
  // The batch of the last poll(). Calls made while walking it never modify it.
  const std::vector<Event>& events() const { return batch_; }
  // Completions or deferred task work still waiting after a turn: the caller must turn again
  // (the binding re-signals its eventfd) rather than wait for a wake-up that may not come.
  bool work_pending() const;
  void release_batch();

  // Frames: encoded once, one reference per queue. The caller owns the reference it gets here.
  Frame* make_frame(size_t len) { return frame_alloc(&frame_counters_, len); }
  Frame* copy_frame(const void* bytes, size_t len) { return frame_copy(&frame_counters_, bytes, len); }

  // Queues f on conn. 0, -ENOTCONN for a stale id, -ENOBUFS past the outbound limit.
  int send(ConnId conn, Frame* f);
  // Queues f on every live id. Returns how many queued it.
  size_t fanout(const ConnId* conns, size_t n, Frame* f);
  // Graceful: queue `last` (bypassing the limit), send everything, then close (see the top of
  // this file); -EALREADY when a graceful close was already asked (`last` is not queued: one
  // close frame per connection). Abort: RST now, also on a closing connection.
  int close(ConnId conn, CloseMode mode = CloseMode::kGraceful, Frame* last = nullptr);
  // Starts one gathered send per connection with queued frames and none in flight, re-arms
  // receives, and submits everything in ONE io_uring_enter. Returns SQEs submitted or -errno.
  int flush();

  // The real fd of a live connection (getpeername, setsockopt), or -ENOTCONN.
  int fd_of(ConnId conn) const;
  int ring_fd() const { return ring_.fd(); }
  // Slots in the table: every ConnId's slot is below this.
  uint32_t capacity() const { return static_cast<uint32_t>(conns_.size()); }
  // The wake source for the binding's uv_poll: the kernel signals efd as completions are queued.
  // Measured on 6.18 with DEFER_TASKRUN (engine_wake_test): an eventfd wakes a sleeping epoll
  // every time; the ring fd never did (docs/engine.md, "Waking the event loop"). Drain efd
  // (read it) before poll(0) in the callback.
  int register_eventfd(int efd) { return ring_.register_op(IORING_REGISTER_EVENTFD, &efd, 1); }
  const Features& features() const { return features_; }
  const Sizing& sizing() const { return sizing_; }
  EngineStats stats() const;
  // Tests only: the ring, for Ring::inject_sqe_failures().
  Ring& ring_for_test() { return ring_; }

 private:
  using Handler = void (Engine::*)(const io_uring_cqe& cqe);
  static const Handler kHandlers[static_cast<int>(Op::kCount)];

  // Completion handlers, one per Op (engine_cqe.cc).
  void on_none(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_accept_wait(const io_uring_cqe& cqe);
  void on_recv(const io_uring_cqe& cqe);
  void on_send(const io_uring_cqe& cqe);
  void on_send_zc(const io_uring_cqe& cqe);
  void on_cancel(const io_uring_cqe& cqe);
  void on_shutdown(const io_uring_cqe& cqe);
  void on_accepted(int fd);
  int64_t open_conn(int fd);  // the path accept and adopt share (engine_adopt.cc)
  void on_recv_end(uint32_t slot, ConnSlot& c, int res);
  void on_send_result(SendOp* op, int res);

  // Submissions (engine_sqe.cc).
  void arm_accept();
  void arm_accept_backoff();
  void arm_recv(uint32_t slot);
  void start_send(uint32_t slot);
  void submit_cancel(uint32_t slot);
  void submit_shutdown(uint32_t slot);
  bool link_shutdown(uint32_t slot, SendOp* op, io_uring_sqe* send_sqe);

  // Lifecycle of a connection (engine.cc).
  ConnSlot* live(ConnId id);
  void push(ConnSlot& c, Frame* f);
  void mark_dirty(uint32_t slot);
  void mark_rearm(uint32_t slot);
  void overflow(uint32_t slot, ConnSlot& c);
  void finish_close(uint32_t slot);
  void abort(uint32_t slot, int32_t reason);
  void expire_closes();
  void teardown(uint32_t slot, int32_t reason);
  void maybe_free(uint32_t slot);
  void emit(EventType type, ConnId conn, int32_t status);
  void reap();
  void shutdown_all();
  void abandon_pending();

  EngineConfig config_;
  Ring ring_;
  Features features_;
  Sizing sizing_;
  FileTable files_;
  BufferRing buffers_;
  FrameCounters frame_counters_;
  NodePool nodes_;
  SendOpPool send_ops_;
  std::vector<ConnSlot> conns_;
  std::vector<Event> batch_;         // events of the last poll()
  std::vector<Event> next_;          // events caused by calls since then: the next batch
  bool reaping_ = false;             // emit() goes to batch_ only inside poll()
  std::vector<uint16_t> held_bids_;  // buffers lent to the current batch
  std::vector<uint32_t> dirty_;      // slots with frames to send at flush()
  std::vector<uint32_t> rearm_;      // slots whose multishot recv must be re-armed
  struct Closing {
    ConnId conn;
    uint64_t deadline_ms;
  };
  std::deque<Closing> closing_;  // graceful closes in the order asked: deadlines ascend
  int listen_fd_ = -1;
  bool admitting_ = false;      // new connections are taken (accepted or adopted): init to stop_accepting
  bool accepting_ = false;      // the multishot accept on listen_fd_ is wanted
  bool accept_wanted_ = false;  // accept could not be armed (no SQE): retried at flush()
  __kernel_timespec backoff_ts_ = {};  // must outlive the TIMEOUT SQE
  EngineStats stats_;
};

}  // namespace ringcast
