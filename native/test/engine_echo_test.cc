// Accept, echo of raw bytes, closes from either side, RST mid-send, and completions that arrive
// for a connection already closed: every test ends with the counters back to zero.
#include <vector>

#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

EngineConfig small_config() {
  EngineConfig c;
  c.max_slots = 256;
  c.sq_entries = 256;
  c.cq_entries = 1024;
  c.recv_buffers = 64;
  c.recv_buffer_size = 4096;
  return c;
}

// Echo server state: open ids, closes seen, and an echo of every data event.
struct Echo {
  explicit Echo(Engine* engine) : e(engine) {}
  Engine* e;
  std::vector<ConnId> open;
  std::vector<Event> closed;
  size_t bytes_in = 0;
  size_t eofs = 0;
  bool echo = true;

  void on(const Event& ev) {
    switch (ev.type) {
      case EventType::kOpen:
        open.push_back(ev.conn);
        break;
      case EventType::kData: {
        bytes_in += ev.len;
        if (!echo) break;
        Frame* f = e->copy_frame(ev.data, ev.len);
        e->send(ev.conn, f);
        frame_unref(f);
        break;
      }
      case EventType::kEof:
        eofs++;
        break;
      case EventType::kClosed:
        closed.push_back(ev);
        break;
      default:
        break;
    }
  }
  std::function<void(const Event&)> handler() {
    return [this](const Event& ev) { on(ev); };
  }
};

// What most tests here start from: an engine listening on 127.0.0.1 with the Echo handler and
// one client connected and opened (its receive buffer, when given, set before the open).
struct OneClient {
  explicit OneClient(bool echo = true, int rcvbuf = 0) : s(&e) {
    CHECK_EQ(e.init(small_config()), 0);
    port = e.listen("127.0.0.1", 0);
    CHECK(port > 0);
    s.echo = echo;
    c = connect_client(port);
    CHECK(c >= 0);
    if (rcvbuf > 0) set_rcvbuf(c, rcvbuf);
    CHECK(pump(e, s.handler(), [&] { return s.open.size() == 1; }));
  }
  Engine e;
  Echo s;
  int port = -1;
  int c = -1;
};

void accepts_and_echoes_raw_bytes() {
  OneClient t;
  auto& [e, s, port, c] = t;
  CHECK(e.fd_of(s.open[0]) >= 0);

  const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  CHECK(write_all(c, hello, sizeof hello));
  CHECK(pump(e, s.handler(), [&] { return s.bytes_in == sizeof hello; }));
  uint8_t back[sizeof hello];
  size_t got = 0;
  set_nonblocking(c);
  CHECK(pump(e, s.handler(), [&] {
    ssize_t r = recv(c, back + got, sizeof back - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
    return got == sizeof back;
  }));
  CHECK(std::memcmp(back, hello, sizeof hello) == 0);

  close(c);  // FIN: kEof, pump() closes, the slot is freed
  CHECK(pump(e, s.handler(), [&] { return s.closed.size() == 1; }));
  CHECK_EQ(s.eofs, 1);
  CHECK_EQ(s.closed[0].status, kClosedLocal);
  CHECK_EQ(s.closed[0].conn, s.open[0]);
  CHECK_EQ(e.fd_of(s.open[0]), -ENOTCONN);
  Frame* f = e.copy_frame("x", 1);
  CHECK_EQ(e.send(s.open[0], f), -ENOTCONN);  // a stale id is refused
  frame_unref(f);
  e.poll(0);
  e.release_batch();
  check_quiet(e);
}

void a_local_close_flushes_then_sends_fin() {
  OneClient t;
  auto& [e, s, port, c] = t;
  Frame* f = e.copy_frame("goodbye", 7);
  CHECK_EQ(e.close(s.open[0], CloseMode::kGraceful, f), 0);
  frame_unref(f);
  set_nonblocking(c);
  char buf[16];
  size_t got = 0;
  bool fin = false;
  CHECK(pump(e, s.handler(), [&] {  // the frame, then FIN (SHUT_WR), while the engine lingers
    ssize_t r = recv(c, buf + got, sizeof buf - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
    fin = r == 0;
    return fin;
  }));
  CHECK_EQ(got, 7);
  CHECK(std::memcmp(buf, "goodbye", 7) == 0);
  CHECK(s.closed.empty());  // lingering: waiting for our FIN
  close(c);
  CHECK(pump(e, s.handler(), [&] { return s.closed.size() == 1; }));
  CHECK_EQ(s.closed[0].status, kClosedLocal);
  CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));
  check_quiet(e);
}

// The client stops reading and resets the connection while a large backlog is being sent.
void a_reset_mid_send_closes_cleanly() {
  OneClient t(/*echo=*/true, /*rcvbuf=*/4096);
  auto& [e, s, port, c] = t;
  Frame* big = e.make_frame(256 * 1024);
  std::memset(big->data(), 'x', big->len);
  for (int i = 0; i < 16; i++) CHECK_EQ(e.send(s.open[0], big), 0);
  frame_unref(big);
  pump(
      e, s.handler(), [&] { return e.stats().sends >= 2; }, 500);
  CHECK(e.stats().bytes_queued > 0);  // the peer is not reading: sends are stuck in the kernel
  abort_socket(c);
  CHECK(pump(e, s.handler(), [&] { return s.closed.size() == 1; }));
  CHECK(s.closed[0].status == -ECONNRESET || s.closed[0].status == -EPIPE ||
        s.closed[0].status == kClosedLocal);
  CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));
  check_quiet(e);
}

// close() while a recv is armed and a send is in flight: both complete after the id went
// stale; they must be recognised, release their frames and buffers, and free the slot.
void completions_after_close_are_stale_and_release() {
  OneClient t(/*echo=*/false, /*rcvbuf=*/4096);
  auto& [e, s, port, c] = t;
  ConnId id = s.open[0];
  Frame* big = e.make_frame(1 << 20);
  std::memset(big->data(), 'y', big->len);
  CHECK_EQ(e.send(id, big), 0);
  frame_unref(big);
  e.flush();
  CHECK_EQ(e.stats().sends_in_flight, 1);
  CHECK(write_all(c, "abc", 3));  // data arriving on a connection about to close
  CHECK_EQ(e.close(id, CloseMode::kAbort), 0);
  CHECK_EQ(s.closed.size(), 0);  // reported in the batch, read below
  uint64_t stale_before = e.stats().stale_cqes;
  CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));
  CHECK(e.stats().stale_cqes > stale_before);
  CHECK_EQ(e.fd_of(id), -ENOTCONN);

  // The slot is reused FIFO, so the next connection gets a different id.
  int c2 = connect_client(port);
  CHECK(pump(e, s.handler(), [&] { return s.open.size() == 2; }));
  CHECK(s.open[1] != id);
  close(c2);
  close(c);
  CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));
  check_quiet(e);
}

// A send larger than the socket can take at once completes short (no MSG_WAITALL); the rest
// goes first in the next send, so the peer reads every byte in order.
void a_short_send_resumes_where_it_stopped() {
  OneClient t(/*echo=*/false);
  auto& [e, s, port, c] = t;
  Frame* big = e.make_frame(8 << 20);
  for (uint32_t i = 0; i < big->len; i++) big->data()[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  std::vector<uint8_t> expect(big->data(), big->data() + big->len);
  CHECK_EQ(e.send(s.open[0], big), 0);
  frame_unref(big);
  set_nonblocking(c);
  std::vector<uint8_t> got;
  uint8_t buf[65536];
  CHECK(pump(
      e, s.handler(),
      [&] {
        ssize_t r = recv(c, buf, sizeof buf, 0);
        if (r > 0) got.insert(got.end(), buf, buf + r);
        return got.size() >= expect.size();
      },
      20000));
  CHECK(got == expect);
  std::printf("8 MiB in %llu sends, %llu short\n", (unsigned long long)e.stats().sends,
              (unsigned long long)e.stats().short_sends);
  CHECK(e.stats().short_sends > 0);
  close(c);
  CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));
  check_quiet(e);
}

void listens_on_ipv6_and_two_workers_share_a_port() {
  Engine e;
  CHECK_EQ(e.init(small_config()), 0);
  CHECK_EQ(e.listen("localhost", 0), -EINVAL);  // names are resolved by the layer above
  int port = e.listen("::1", 0);
  CHECK(port > 0);
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a;
  std::memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  a.sin6_addr = in6addr_loopback;
  CHECK_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  Echo s(&e);
  CHECK(pump(e, s.handler(), [&] { return s.open.size() == 1; }));
  close(fd);
  CHECK(pump(e, s.handler(), [&] { return e.stats().live_slots == 0; }));

  EngineConfig cfg = small_config();
  cfg.reuse_port = true;
  Engine w1, w2;
  CHECK_EQ(w1.init(cfg), 0);
  CHECK_EQ(w2.init(cfg), 0);
  int p1 = w1.listen("127.0.0.1", 0);
  CHECK(p1 > 0);
  CHECK_EQ(w1.listen("127.0.0.1", 0), -EBUSY);
  CHECK_EQ(w2.listen("127.0.0.1", static_cast<uint16_t>(p1)), p1);
  check_quiet(e);
}

// Four 1 KiB buffers for 256 KiB of input: the multishot recv runs the ring dry, ends with
// ENOBUFS, and is re-armed once buffers come back; every byte still arrives, in order.
void a_dry_buffer_ring_rearms_and_loses_nothing() {
  EngineConfig cfg = small_config();
  cfg.recv_buffers = 4;
  cfg.recv_buffer_size = 1024;
  Engine e;
  CHECK_EQ(e.init(cfg), 0);
  int port = e.listen("127.0.0.1", 0);
  Echo s(&e);
  s.echo = false;
  std::vector<uint8_t> sent(256 * 1024);
  for (size_t i = 0; i < sent.size(); i++) sent[i] = static_cast<uint8_t>(i * 13 + (i >> 9));
  std::vector<uint8_t> got;
  auto collect = [&](const Event& ev) {
    s.on(ev);
    if (ev.type == EventType::kData) got.insert(got.end(), ev.data, ev.data + ev.len);
  };
  int c = connect_client(port);
  CHECK(pump(e, collect, [&] { return s.open.size() == 1; }));
  CHECK(write_all(c, sent.data(), sent.size()));
  CHECK(pump(
      e, collect, [&] { return got.size() >= sent.size(); }, 20000));
  CHECK(got == sent);
  CHECK(e.stats().recv_rearms > 0);
  std::printf("256 KiB through 4 x 1 KiB buffers: %llu re-arms\n",
              static_cast<unsigned long long>(e.stats().recv_rearms));
  close(c);
  CHECK(pump(e, collect, [&] { return e.stats().live_slots == 0; }));
  check_quiet(e);
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  accepts_and_echoes_raw_bytes();
  a_local_close_flushes_then_sends_fin();
  a_reset_mid_send_closes_cleanly();
  completions_after_close_are_stale_and_release();
  a_short_send_resumes_where_it_stopped();
  listens_on_ipv6_and_two_workers_share_a_port();
  a_dry_buffer_ring_rearms_and_loses_nothing();
  return report();
}
