// SQPOLL: a kernel thread takes the SQEs, several rings share it through ATTACH_WQ, a flush()
// while it is awake costs no syscall, and a send after it fell asleep wakes it (data arrives).
#include <dirent.h>

#include <string>
#include <vector>

#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

EngineConfig sqpoll_config(uint32_t idle_ms, int attach_fd = -1) {
  EngineConfig c;
  c.max_slots = 512;
  c.sq_entries = 64;  // a fanout to 200 sockets fills it: get_sqe() must wait for the thread
  c.cq_entries = 1024;
  c.recv_buffers = 64;
  c.recv_buffer_size = 4096;
  c.sqpoll_idle_ms = idle_ms;
  c.sqpoll_attach_fd = attach_fd;
  return c;
}

// The SQ threads of this process: the kernel names them "iou-sqp-<pid of the creator>".
int sq_threads() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
    char comm[32] = "";
    if (FILE* f = std::fopen(path.c_str(), "r")) {
      if (!std::fgets(comm, sizeof comm, f)) comm[0] = 0;
      std::fclose(f);
    }
    n += std::strncmp(comm, "iou-sqp-", 8) == 0;
  }
  closedir(d);
  return n;
}

// A new SQ thread names itself once it runs and an old one exits after its last ring is freed,
// both asynchronously: wait (bounded) for the count to settle at `want`.
int wait_sq_threads(int want) {
  int n = sq_threads();
  for (double end = now_ms() + 2000; n != want && now_ms() < end; n = sq_threads()) usleep(5000);
  return n;
}

// An engine listening on 127.0.0.1 that echoes what it reads, with `clients` connected.
struct EchoServer {
  explicit EchoServer(const EngineConfig& cfg, int clients = 1) {
    init = e.init(cfg);
    if (init < 0) return;
    port = e.listen("127.0.0.1", 0);
    CHECK(port > 0);
    for (int i = 0; i < clients; i++) fds.push_back(connect_client(port));
    CHECK(pump(e, handler(), [&] { return open.size() == fds.size(); }));
  }
  ~EchoServer() {
    for (int fd : fds) close(fd);
    if (init < 0) return;
    pump(e, handler(), [&] { return e.stats().live_slots == 0; });
    check_quiet(e);
  }
  std::function<void(const Event&)> handler() {
    return [this](const Event& ev) {
      if (ev.type == EventType::kOpen) open.push_back(ev.conn);
      if (ev.type != EventType::kData) return;
      Frame* f = e.copy_frame(ev.data, ev.len);
      e.send(ev.conn, f);
      frame_unref(f);
    };
  }
  // Sends `msg` on client i and pumps until it came back whole.
  bool round_trip(size_t i, const std::string& msg) {
    if (!write_all(fds[i], msg.data(), msg.size())) return false;
    std::string back;
    bool ok = pump(e, handler(), [&] {
      char buf[256];
      ssize_t r = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) back.append(buf, static_cast<size_t>(r));
      return back.size() >= msg.size();
    });
    return ok && back == msg;
  }
  Engine e;
  int init = -1;
  int port = -1;
  std::vector<int> fds;
  std::vector<ConnId> open;
};

void an_sqpoll_ring_echoes_and_says_so() {
  int before = sq_threads();
  EchoServer s(sqpoll_config(1000));
  CHECK_EQ(s.init, 0);
  CHECK(s.e.features().sqpoll);
  CHECK(!s.e.features().attached);
  CHECK(!s.e.features().defer_taskrun);  // refused with SQPOLL: EngineConfig's default is ignored
  CHECK(s.e.features().names().find("sqpoll") != std::string::npos);
  CHECK(s.round_trip(0, "hello over sqpoll"));
  CHECK_EQ(wait_sq_threads(before + 1), before + 1);
}

// With the thread awake (idle 1 s), the SQEs of a turn reach the kernel with no enter: the
// echo's send is prepared, published by flush(), taken by the thread; we enter only to wait.
void a_flush_while_the_thread_is_awake_costs_no_enter() {
  EchoServer s(sqpoll_config(1000));
  CHECK(s.round_trip(0, "wake up"));
  Frame* f = s.e.copy_frame("0123456789", 10);
  CHECK_EQ(s.e.send(s.open[0], f), 0);
  frame_unref(f);
  uint64_t enters = s.e.stats().enters;
  CHECK_EQ(s.e.flush(), 1);
  CHECK_EQ(s.e.stats().enters, enters);
  char buf[16];
  size_t got = 0;
  for (double end = now_ms() + 2000; got < 10 && now_ms() < end;) {
    ssize_t r = recv(s.fds[0], buf + got, sizeof buf - got, MSG_DONTWAIT);
    if (r > 0) got += static_cast<size_t>(r);
  }
  CHECK_EQ(got, 10);
  CHECK(std::memcmp(buf, "0123456789", 10) == 0);
  s.e.poll(0);  // reaps the send's CQE without an enter while the thread is awake
  CHECK_EQ(s.e.stats().enters, enters);
  CHECK(s.e.stats().sends >= 2);
}

// Past sq_thread_idle the thread sleeps (IORING_SQ_NEED_WAKEUP); the next submission must
// wake it, or the data would sit in the SQ. A send of the server's own after a pause: nothing
// else (no receive completing as the thread's task work) wakes the thread first.
void a_sleeping_thread_is_woken_by_the_next_submission() {
  EchoServer s(sqpoll_config(10));
  CHECK(s.round_trip(0, "first"));
  for (int round = 0; round < 3; round++) {
    usleep(100 * 1000);
    uint64_t wakeups = s.e.stats().sq_wakeups;
    const std::string msg = "pushed after a pause " + std::to_string(round);
    Frame* f = s.e.copy_frame(msg.data(), msg.size());
    CHECK_EQ(s.e.send(s.open[0], f), 0);
    frame_unref(f);
    CHECK_EQ(s.e.flush(), 1);
    CHECK_EQ(s.e.stats().sq_wakeups, wakeups + 1);
    std::string got;
    CHECK(pump(s.e, s.handler(), [&] {
      char buf[64];
      ssize_t r = recv(s.fds[0], buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) got.append(buf, static_cast<size_t>(r));
      return got.size() >= msg.size();
    }));
    CHECK(got == msg);
    // A receive after a pause completes as the thread's task work, which wakes it by itself.
    usleep(100 * 1000);
    CHECK(s.round_trip(0, "echoed after a pause " + std::to_string(round)));
  }
}

// Two rings attached to one SQ thread (ATTACH_WQ): one iou-sqp thread serves both, echo and
// fanout (200 sockets through an SQ of 64: get_sqe() waits for the thread to take entries).
void attached_rings_share_one_sq_thread() {
  int before = wait_sq_threads(0);
  CHECK_EQ(before, 0);
  EchoServer a(sqpoll_config(50));
  CHECK_EQ(a.init, 0);
  EchoServer b(sqpoll_config(50, a.e.ring_fd()), 200);
  CHECK_EQ(b.init, 0);
  CHECK(b.e.features().sqpoll);
  CHECK(b.e.features().attached);
  CHECK(b.e.features().names().find("attached") != std::string::npos);
  CHECK_EQ(wait_sq_threads(1), 1);
  CHECK(a.round_trip(0, "ring a"));
  CHECK(b.round_trip(199, "ring b"));

  constexpr int kFrames = 40;
  std::string expect;
  for (int i = 0; i < kFrames; i++) {
    std::string p = "frame " + std::to_string(i) + ";";
    Frame* f = b.e.copy_frame(p.data(), p.size());
    CHECK_EQ(b.e.fanout(b.open.data(), b.open.size(), f), b.open.size());
    frame_unref(f);
    expect += p;
    if (i % 8 == 7) b.e.flush();  // 200 sends a flush, 64 SQ entries
  }
  std::vector<std::string> got(b.fds.size());
  bool ok = pump(
      b.e, b.handler(),
      [&] {
        bool all = true;
        char buf[4096];
        for (size_t i = 0; i < b.fds.size(); i++) {
          ssize_t r;
          while ((r = recv(b.fds[i], buf, sizeof buf, MSG_DONTWAIT)) > 0)
            got[i].append(buf, static_cast<size_t>(r));
          all = all && got[i].size() >= expect.size();
        }
        return all;
      },
      10000);
  CHECK(ok);
  size_t same = 0;
  for (const std::string& g : got) same += g == expect;
  CHECK_EQ(same, b.fds.size());
  CHECK(a.round_trip(0, "ring a again"));
}

void unattached_rings_have_a_thread_each() {
  CHECK_EQ(wait_sq_threads(0), 0);
  EchoServer a(sqpoll_config(50));
  EchoServer b(sqpoll_config(50));
  CHECK(!b.e.features().attached);
  CHECK_EQ(wait_sq_threads(2), 2);
  CHECK(a.round_trip(0, "a"));
  CHECK(b.round_trip(0, "b"));
}

// The kernel's refusals come back as init()'s errno, with nothing left open.
void refusals_fail_init_with_the_errno() {
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  Engine on_socket;
  CHECK_EQ(on_socket.init(sqpoll_config(10, sock)), -EINVAL);  // not a ring
  close(sock);
  Engine plain;
  CHECK_EQ(plain.init(sqpoll_config(0)), 0);
  CHECK(!plain.features().sqpoll);
  Engine on_plain;
  CHECK_EQ(on_plain.init(sqpoll_config(10, plain.ring_fd())), -EINVAL);  // a ring without SQPOLL
  Engine on_closed;
  CHECK_EQ(on_closed.init(sqpoll_config(10, 1000000)), -ENXIO);  // no such fd (6.18)
}

}  // namespace

int main() {
  an_sqpoll_ring_echoes_and_says_so();
  a_flush_while_the_thread_is_awake_costs_no_enter();
  a_sleeping_thread_is_woken_by_the_next_submission();
  attached_rings_share_one_sq_thread();
  unattached_rings_have_a_thread_each();
  refusals_fail_init_with_the_errno();
  return report();
}
