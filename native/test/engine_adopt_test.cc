// Engine::adopt: a socket accepted outside the ring, by a plain accept4 here as by the
// main thread's acceptor in the server, becomes a connection like one the ring accepted. What is
// not a connected TCP socket is refused with its own errno, and every refused fd is closed: the
// process's open fds are counted before and after. Teardown with connections open stays bounded.
#include <dirent.h>
#include <sys/un.h>

#include <memory>
#include <vector>

#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

EngineConfig small_config(uint32_t slots = 64) {
  EngineConfig c;
  c.max_slots = slots;
  c.sq_entries = 256;
  c.cq_entries = 1024;
  c.recv_buffers = 64;
  c.recv_buffer_size = 4096;
  return c;
}

int open_fds() {
  DIR* d = opendir("/proc/self/fd");
  int n = 0;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

bool is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

// A plain listener on 127.0.0.1 (no ring): the acceptor's side.
struct Acceptor {
  Acceptor() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a;
    std::memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
    CHECK_EQ(::listen(fd, 64), 0);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Acceptor() { close(fd); }
  // A client connected, and the server's end accepted the way Node does (non-blocking, cloexec).
  int accept_one(int* client) {
    *client = connect_client(port);
    return accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
  int fd = -1;
  int port = 0;
};

// Opens, closes and echoes, as the tests of accepted connections do.
struct Echo {
  explicit Echo(Engine* engine) : e(engine) {}
  Engine* e;
  std::vector<ConnId> open;
  std::vector<Event> closed;
  std::function<void(const Event&)> handler() {
    return [this](const Event& ev) {
      if (ev.type == EventType::kOpen) open.push_back(ev.conn);
      if (ev.type == EventType::kClosed) closed.push_back(ev);
      if (ev.type != EventType::kData) return;
      Frame* f = e->copy_frame(ev.data, ev.len);
      e->send(ev.conn, f);
      frame_unref(f);
    };
  }
};

void an_adopted_socket_echoes_without_listen() {
  const int fds = open_fds();
  {
    Engine e;
    CHECK_EQ(e.init(small_config()), 0);
    Echo s(&e);
    Acceptor a;
    int c = -1;
    int fd = a.accept_one(&c);
    CHECK(fd >= 0 && c >= 0);
    int64_t id = e.adopt(fd);
    CHECK(id >= 0);
    CHECK_EQ(e.fd_of(static_cast<ConnId>(id)), fd);
    CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);  // as the ring's accept gives it
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
    CHECK(nodelay);

    CHECK(write_all(c, "hello", 5));
    set_nonblocking(c);
    char back[5];
    size_t got = 0;
    CHECK(pump(e, s.handler(), [&] {
      ssize_t r = recv(c, back + got, sizeof back - got, 0);
      if (r > 0) got += static_cast<size_t>(r);
      return got == sizeof back;
    }));
    CHECK(std::memcmp(back, "hello", 5) == 0);
    CHECK_EQ(s.open.size(), 1);
    CHECK_EQ(s.open[0], static_cast<ConnId>(id));
    CHECK_EQ(e.stats().accepted, 1);

    close(c);  // FIN: pump() closes gracefully, the slot and the adopted fd are freed
    CHECK(pump(e, s.handler(), [&] { return s.closed.size() == 1 && e.stats().live_slots == 0; }));
    CHECK_EQ(s.closed[0].status, kClosedLocal);
    CHECK(!is_open(fd));
    check_quiet(e);
  }
  CHECK_EQ(open_fds(), fds);
}

// Refuses fd (with `err`) and closed it.
void check_refused(Engine& e, int fd, int err) {
  CHECK_EQ(e.adopt(fd), err);
  CHECK(!is_open(fd));
}

void what_is_not_a_connected_tcp_socket_is_refused_and_closed() {
  const int fds = open_fds();
  {
    Engine e;
    CHECK_EQ(e.init(small_config()), 0);
    const int engine_fds = open_fds();
    CHECK_EQ(e.adopt(-1), -EBADF);

    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    check_refused(e, p[0], -ENOTSOCK);
    CHECK_EQ(e.adopt(p[0]), -EBADF);  // closed now: an invalid fd
    check_refused(e, open("/dev/null", O_RDONLY | O_CLOEXEC), -ENOTSOCK);
    check_refused(e, socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -EPROTOTYPE);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    check_refused(e, sv[0], -EAFNOSUPPORT);
    check_refused(e, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -ENOTCONN);  // never connected
    {
      Acceptor a;
      int listener = dup(a.fd);
      check_refused(e, listener, -EINVAL);

      int c = -1;
      int fd = a.accept_one(&c);
      abort_socket(c);  // reset before the hand-over: the socket is no longer connected
      usleep(10 * 1000);
      check_refused(e, fd, -ENOTCONN);
    }
    CHECK_EQ(open_fds(), engine_fds);
    EngineStats st = e.stats();
    CHECK_EQ(st.accepted, 0);
    CHECK_EQ(st.rejected, 0);  // none was a connection
    check_quiet(e);
  }
  CHECK_EQ(open_fds(), fds);
}

void adopts_past_ring_slots_are_refused_and_closed() {
  const int fds = open_fds();
  {
    Engine e;
    CHECK_EQ(e.init(small_config(2)), 0);
    CHECK_EQ(e.capacity(), 2);
    Echo s(&e);
    Acceptor a;
    int clients[3];
    int64_t ids[3];
    int last = -1;
    for (int i = 0; i < 3; i++) {
      last = a.accept_one(&clients[i]);
      ids[i] = e.adopt(last);
    }
    CHECK(ids[0] >= 0 && ids[1] >= 0);
    CHECK_EQ(ids[2], -ENFILE);
    CHECK(!is_open(last));
    CHECK_EQ(e.stats().rejected, 1);
    CHECK_EQ(e.stats().accepted, 2);
    char byte;
    CHECK_EQ(recv(clients[2], &byte, 1, 0), 0);  // the refused one sees its connection end
    CHECK(pump(e, s.handler(), [&] { return s.open.size() == 2; }));
    for (int c : clients) close(c);
    CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));
    check_quiet(e);
  }
  CHECK_EQ(open_fds(), fds);
}

void adopts_after_stop_accepting_are_refused_and_closed() {
  Engine e;
  CHECK_EQ(e.init(small_config()), 0);
  e.stop_accepting();
  Acceptor a;
  int c = -1;
  int fd = a.accept_one(&c);
  check_refused(e, fd, -ESHUTDOWN);
  CHECK_EQ(e.stats().rejected, 1);
  CHECK_EQ(e.listen("127.0.0.1", 0), -ESHUTDOWN);
  close(c);
  Engine never_initialised;
  fd = a.accept_one(&c);
  check_refused(never_initialised, fd, -ESHUTDOWN);
  close(c);
}

// A worker thread terminated with connections open runs ~Engine from its finalizer: the clients
// are reset, every fd is closed, and the thread is not held for more than ~100 ms even with
// sends stuck behind peers that read nothing.
void teardown_with_busy_connections_is_bounded() {
  const int fds = open_fds();
  constexpr int kConns = 16;
  int clients[kConns];
  auto e = std::make_unique<Engine>();
  EngineConfig config = small_config();
  config.max_outbound = 32u << 20;
  CHECK_EQ(e->init(config), 0);
  {
    Acceptor a;
    Echo s(e.get());
    for (int& c : clients) {
      int fd = a.accept_one(&c);
      set_rcvbuf(c, 4096);
      CHECK(e->adopt(fd) >= 0);
    }
    CHECK(pump(*e, s.handler(), [&] { return s.open.size() == kConns; }));
    // More than a socket's send buffer takes (tcp_wmem's 4 MiB at most): one frame for all.
    std::vector<uint8_t> big(16u << 20, 'x');
    Frame* f = e->copy_frame(big.data(), big.size());
    for (ConnId id : s.open) CHECK_EQ(e->send(id, f), 0);
    frame_unref(f);
    e->flush();
    pump(
        *e, s.handler(), [] { return false; }, 50);  // the sends fill the windows and wait
    CHECK(e->stats().sends_in_flight > 0);
  }
  double start = now_ms();
  e.reset();
  double took = now_ms() - start;
  std::printf("teardown with %d stuck connections: %.1f ms\n", kConns, took);
  CHECK(took < 150);
  for (int c : clients) {
    char buf[4096];
    ssize_t r;
    while ((r = recv(c, buf, sizeof buf, 0)) > 0) {
    }
    CHECK(r == 0 || errno == ECONNRESET);
    close(c);
  }
  CHECK_EQ(open_fds(), fds);
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  an_adopted_socket_echoes_without_listen();
  what_is_not_a_connected_tcp_socket_is_refused_and_closed();
  adopts_past_ring_slots_are_refused_and_closed();
  adopts_after_stop_accepting_are_refused_and_closed();
  teardown_with_busy_connections_is_bounded();
  return report();
}
