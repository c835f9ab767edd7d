// Connection churn and fd exhaustion: 10,000 connect/close cycles leave every counter at zero,
// and EMFILE on accept backs off and keeps serving instead of dying.
#include <sys/resource.h>
#include <algorithm>

#include <dirent.h>

#include <vector>

#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

struct Server {
  Engine e;
  std::vector<ConnId> open;
  size_t closed = 0;
  std::function<void(const Event&)> handler() {
    return [this](const Event& ev) {
      if (ev.type == EventType::kOpen) open.push_back(ev.conn);
      if (ev.type == EventType::kClosed) closed++;
    };
  }
};

int open_fd_count() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* de = readdir(d)) n += de->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the DIR's own fd
}

// Cycles in waves of kWave clients; even waves are closed by the client (FIN), odd ones by
// the server (graceful close after a greeting; the client reads it and its FIN, then closes),
// every 7th client resets instead.
void ten_thousand_cycles_return_counters_to_zero() {
  constexpr int kCycles = 10000;
  constexpr int kWave = 100;
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 512;
  cfg.recv_buffers = 256;
  cfg.recv_buffer_size = 4096;
  CHECK_EQ(s.e.init(cfg), 0);
  int port = s.e.listen("127.0.0.1", 0);
  int done = 0;
  bool ok = true;
  for (int w = 0; ok && done < kCycles; w++) {
    std::vector<int> fds;
    size_t opened_before = s.open.size();
    for (int i = 0; i < kWave; i++) fds.push_back(connect_client(port));
    ok = pump(s.e, s.handler(), [&] { return s.open.size() == opened_before + kWave; });
    if (w % 2 == 0) {
      for (size_t i = 0; i < fds.size(); i++) {
        if (i % 7 == 0) {
          abort_socket(fds[i]);
        } else {
          close(fds[i]);
        }
      }
    } else {
      for (size_t i = opened_before; i < s.open.size(); i++) {
        Frame* f = s.e.copy_frame("bye", 3);
        s.e.close(s.open[i], CloseMode::kGraceful, f);
        frame_unref(f);
      }
    }
    if (w % 2 == 1) {
      // The server's greeting and FIN reach each client, which then closes (ending the
      // server's lingering close).
      size_t fins = 0;
      for (int fd : fds) set_nonblocking(fd);
      ok = ok && pump(s.e, s.handler(), [&] {
             for (int& fd : fds) {
               char buf[8];
               if (fd >= 0 && recv(fd, buf, sizeof buf, 0) == 0) {
                 close(fd);
                 fd = -1;
                 fins++;
               }
             }
             return fins == fds.size();
           });
    }
    size_t target = s.open.size();
    ok = ok && pump(s.e, s.handler(), [&] { return s.closed == target; });
    done += kWave;
  }
  CHECK(ok);
  CHECK_EQ(s.open.size(), kCycles);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  EngineStats st = s.e.stats();
  CHECK_EQ(st.accepted, kCycles);
  CHECK_EQ(st.closed, kCycles);
  check_quiet(s.e);
}

// The process runs out of fds while clients keep connecting: accept fails with EMFILE, the
// engine waits and retries, existing connections keep echoing, and once fds are back every
// pending client is accepted.
void emfile_backs_off_and_keeps_serving() {
  constexpr int kClients = 24;
  constexpr int kRoom = 4;  // fds the server may still open, the first client's included
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 64;
  cfg.accept_backoff_ms = 20;
  CHECK_EQ(s.e.init(cfg), 0);
  // io_uring's accept reads RLIMIT_NOFILE when the SQE is prepared (6.18), so the limit is
  // lowered before listen() arms it; the client sockets exist before that.
  std::vector<int> fds;
  for (int i = 0; i < kClients; i++) fds.push_back(socket(AF_INET, SOCK_STREAM, 0));
  int first = socket(AF_INET, SOCK_STREAM, 0);
  rlimit old;
  getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(open_fd_count() + 1 + kRoom);  // + the listener
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  int port = s.e.listen("127.0.0.1", 0);
  CHECK(port > 0);
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(connect(first, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == 1; }));
  for (int fd : fds) CHECK_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);

  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().accept_backoffs >= 2; }));
  CHECK(s.open.size() <= kRoom + 1);  // the limit caps fd numbers: a hole may add one
  CHECK(s.open.size() < kClients);

  // Still serving: the first connection gets an answer while accept is backing off.
  Frame* f = s.e.copy_frame("ping", 4);
  CHECK_EQ(s.e.send(s.open[0], f), 0);
  frame_unref(f);
  s.e.flush();
  char buf[4];
  CHECK_EQ(recv(first, buf, 4, MSG_WAITALL), 4);

  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == 1 + kClients; }));
  close(first);
  for (int fd : fds) close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

// More clients than slots: the extra ones are accepted and closed at once (counted), the
// others keep working.
void clients_beyond_the_slots_are_turned_away() {
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 4;
  CHECK_EQ(s.e.init(cfg), 0);
  int port = s.e.listen("127.0.0.1", 0);
  std::vector<int> fds;
  for (int i = 0; i < 6; i++) fds.push_back(connect_client(port));
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().rejected == 2; }));
  CHECK_EQ(s.open.size(), 4);
  int refused = 0;
  for (int fd : fds) {
    char c;
    set_nonblocking(fd);
    refused += recv(fd, &c, 1, 0) == 0;
  }
  CHECK_EQ(refused, 2);
  for (int fd : fds) close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

// The default slot table holds as many connections as RLIMIT_NOFILE allows (a fixed default
// once refused clients past 16,384 on a machine allowing 20,000 fds).
void default_slots_follow_rlimit_nofile() {
  rlimit rl;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  Server s;
  CHECK_EQ(s.e.init(EngineConfig{}), 0);
  uint64_t expected = std::min<uint64_t>(kMaxSlots, rl.rlim_cur);
  CHECK_EQ(uint64_t{s.e.capacity()}, expected);
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  ten_thousand_cycles_return_counters_to_zero();
  emfile_backs_off_and_keeps_serving();
  clients_beyond_the_slots_are_turned_away();
  default_slots_follow_rlimit_nofile();
  return report();
}
