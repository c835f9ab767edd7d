// Shared by the real-kernel engine tests: a check macro that counts, blocking loopback clients,
// and a pump that drives the engine the way the binding will (poll, handle the batch, flush).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "engine/engine.h"
#include "engine/self_test.h"

namespace enginetest {

inline int g_passed = 0;
inline int g_failed = 0;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (cond) {                                                                     \
      enginetest::g_passed++;                                                       \
    } else {                                                                        \
      enginetest::g_failed++;                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                               \
  } while (0)

#define CHECK_EQ(a, b)                                                                                    \
  do {                                                                                                    \
    long long va_ = static_cast<long long>(a), vb_ = static_cast<long long>(b);                           \
    if (va_ == vb_) {                                                                                     \
      enginetest::g_passed++;                                                                             \
    } else {                                                                                              \
      enginetest::g_failed++;                                                                             \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n", __FILE__, __LINE__, #a, va_, \
                   #b, vb_);                                                                              \
    }                                                                                                     \
  } while (0)

inline int report() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}

inline double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// A blocking client socket connected to 127.0.0.1:port, or -errno.
inline int connect_client(int port) { return ringcast::connect_loopback(port); }

inline void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

inline void set_rcvbuf(int fd, int bytes) { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

inline void abort_socket(int fd) {  // RST instead of FIN
  linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

inline bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n) {
    ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Polls the engine, hands each event to on_event, flushes; until done() or timeout. The peer's
// FIN (kEof) is then answered as a server layer would: a graceful close.
inline bool pump(ringcast::Engine& e, const std::function<void(const ringcast::Event&)>& on_event,
                 const std::function<bool()>& done, double timeout_ms = 5000) {
  double end = now_ms() + timeout_ms;
  while (!done()) {
    if (now_ms() > end) return false;
    int n = e.poll(1);
    if (n < 0) {
      std::fprintf(stderr, "poll: %s\n", std::strerror(-n));
      return false;
    }
    for (const ringcast::Event& ev : e.events()) {
      on_event(ev);
      if (ev.type == ringcast::EventType::kEof) e.close(ev.conn);
    }
    e.flush();
  }
  return true;
}

// The counters every test ends on: nothing live, nothing queued, nothing lent.
inline void check_quiet(const ringcast::Engine& e) {
  ringcast::EngineStats s = e.stats();
  CHECK_EQ(s.live_slots, 0);
  CHECK_EQ(s.live_frames, 0);
  CHECK_EQ(s.bytes_queued, 0);
  CHECK_EQ(s.queue_nodes, 0);
  CHECK_EQ(s.buffers_out, 0);
  CHECK_EQ(s.sends_in_flight, 0);
}

}  // namespace enginetest
