// Fanout: one frame encoded once reaches every socket, in order, in gathered sends; a slow
// reader hits its outbound limit without delaying the others or growing memory.
#include <vector>

#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

// Frame i: a 4-byte sequence number then (i % 97 + 12) bytes of a pattern derived from i, so a
// reordered, duplicated or torn frame breaks the byte comparison.
std::vector<uint8_t> make_payload(uint32_t i) {
  std::vector<uint8_t> p(4 + i % 97 + 12);
  std::memcpy(p.data(), &i, 4);
  for (size_t k = 4; k < p.size(); k++) p[k] = static_cast<uint8_t>(i * 31 + k);
  return p;
}

struct Server {
  Engine e;
  std::vector<ConnId> open;
  std::vector<ConnId> overflowed;
  size_t closed = 0;
  std::function<void(const Event&)> handler() {
    return [this](const Event& ev) {
      if (ev.type == EventType::kOpen) open.push_back(ev.conn);
      if (ev.type == EventType::kOverflow) overflowed.push_back(ev.conn);
      if (ev.type == EventType::kClosed) closed++;
    };
  }
};

// Reads what is available on every client and compares it with the expected stream.
bool drain_clients(const std::vector<int>& fds, std::vector<size_t>& got, const std::vector<uint8_t>& expect,
                   bool* mismatch) {
  static uint8_t buf[65536];
  bool all = true;
  for (size_t i = 0; i < fds.size(); i++) {
    for (;;) {
      ssize_t r = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
      if (r <= 0) break;
      if (got[i] + static_cast<size_t>(r) > expect.size() ||
          std::memcmp(buf, expect.data() + got[i], static_cast<size_t>(r)) != 0) {
        *mismatch = true;
      }
      got[i] += static_cast<size_t>(r);
    }
    all = all && got[i] >= expect.size();
  }
  return all;
}

void fanout_reaches_1000_sockets_in_order() {
  constexpr int kClients = 1000;
  constexpr uint32_t kFrames = 400;
  constexpr uint32_t kPerTurn = 8;  // publishes per event-loop turn, gathered per connection
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 2048;
  CHECK_EQ(s.e.init(cfg), 0);
  int port = s.e.listen("127.0.0.1", 0);
  std::vector<int> fds;
  for (int i = 0; i < kClients; i++) {
    int fd = connect_client(port);
    if (fd < 0) break;
    fds.push_back(fd);
    if (i % 64 == 63) pump(s.e, s.handler(), [] { return true; });
    s.e.poll(0);
    for (const Event& ev : s.e.events()) s.handler()(ev);
  }
  CHECK_EQ(fds.size(), kClients);
  CHECK(pump(
      s.e, s.handler(), [&] { return s.open.size() == fds.size(); }, 10000));

  std::vector<uint8_t> expect;
  std::vector<size_t> got(fds.size(), 0);
  bool mismatch = false;
  uint64_t sends_before = s.e.stats().sends;
  for (uint32_t i = 0; i < kFrames; i += kPerTurn) {
    for (uint32_t k = i; k < i + kPerTurn; k++) {
      std::vector<uint8_t> p = make_payload(k);
      Frame* f = s.e.copy_frame(p.data(), p.size());
      CHECK_EQ(s.e.fanout(s.open.data(), s.open.size(), f), s.open.size());
      frame_unref(f);  // the queues hold their own references
      expect.insert(expect.end(), p.begin(), p.end());
    }
    s.e.flush();
    s.e.poll(0);
    drain_clients(fds, got, expect, &mismatch);
  }
  CHECK(pump(
      s.e, s.handler(), [&] { return drain_clients(fds, got, expect, &mismatch); }, 30000));
  CHECK(!mismatch);
  uint64_t sends = s.e.stats().sends - sends_before;
  std::printf("fanout: %u frames x %zu sockets in %llu sends (%.2f frames per send)\n", kFrames, fds.size(),
              static_cast<unsigned long long>(sends), double(kFrames) * double(fds.size()) / double(sends));
  CHECK(sends < uint64_t{kFrames} * fds.size());  // gathering happened
  CHECK_EQ(s.e.stats().overflows, 0);
  for (int fd : fds) close(fd);
  CHECK(pump(
      s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }, 10000));
  check_quiet(s.e);
}

void a_slow_reader_overflows_alone() {
  constexpr int kFast = 20;
  constexpr uint32_t kFrameSize = 16384;
  constexpr uint32_t kFrames = 64;  // 1 MiB per reader, 4x the limit plus socket buffers
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 64;
  cfg.max_outbound = 256 * 1024;
  CHECK_EQ(s.e.init(cfg), 0);
  int port = s.e.listen("127.0.0.1", 0);
  int slow = connect_client(port);
  set_rcvbuf(slow, 4096);
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == 1; }));
  ConnId slow_id = s.open[0];
  int sndbuf = 16384;  // the real fd is kept for exactly this kind of setsockopt
  setsockopt(s.e.fd_of(slow_id), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  std::vector<int> fast;
  for (int i = 0; i < kFast; i++) fast.push_back(connect_client(port));
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == kFast + 1; }));

  std::vector<uint8_t> expect;
  std::vector<size_t> got(fast.size(), 0);
  bool mismatch = false;
  uint64_t max_queued = 0;
  for (uint32_t i = 0; i < kFrames; i++) {
    std::vector<uint8_t> p(kFrameSize, static_cast<uint8_t>(i));
    std::memcpy(p.data(), &i, 4);
    Frame* f = s.e.copy_frame(p.data(), p.size());
    s.e.fanout(s.open.data(), s.open.size(), f);
    frame_unref(f);
    expect.insert(expect.end(), p.begin(), p.end());
    for (ConnId id : s.overflowed) {  // the layer above answers with a close frame (1013)
      Frame* bye = s.e.copy_frame("CLOSE1013", 9);
      s.e.close(id, CloseMode::kGraceful, bye);
      frame_unref(bye);
    }
    s.overflowed.clear();
    s.e.flush();
    s.e.poll(0);
    for (const Event& ev : s.e.events()) s.handler()(ev);
    max_queued = std::max(max_queued, s.e.stats().bytes_queued);
    drain_clients(fast, got, expect, &mismatch);
  }
  // Every fast reader gets everything while the slow one has still read nothing.
  CHECK(pump(s.e, s.handler(), [&] { return drain_clients(fast, got, expect, &mismatch); }));
  CHECK(!mismatch);
  CHECK_EQ(s.e.stats().overflows, 1);
  std::printf("slow reader: %llu short sends\n", (unsigned long long)s.e.stats().short_sends);
  CHECK(max_queued <= cfg.max_outbound + kFast * 2 * kFrameSize);

  // The slow reader sees whole frames in order, then the close frame, then FIN.
  std::vector<uint8_t> slow_got;
  uint8_t buf[65536];
  double end = now_ms() + 5000;
  set_nonblocking(slow);
  for (;;) {
    ssize_t r = recv(slow, buf, sizeof buf, 0);
    if (r > 0) slow_got.insert(slow_got.end(), buf, buf + r);
    if (r == 0 || now_ms() > end) break;
    s.e.poll(1);
    s.e.flush();
  }
  CHECK(slow_got.size() >= 9);
  size_t body = slow_got.size() - 9;
  CHECK_EQ(body % kFrameSize, 0);
  CHECK(body < expect.size());
  CHECK(std::memcmp(slow_got.data(), expect.data(), body) == 0);
  CHECK(std::memcmp(slow_got.data() + body, "CLOSE1013", 9) == 0);
  close(slow);  // ends the server's lingering close
  CHECK(pump(s.e, s.handler(), [&] { return s.e.fd_of(slow_id) == -ENOTCONN; }));
  for (int fd : fast) close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

// SENDMSG_ZC (zc_threshold reached): frames stay referenced until the notification CQE, which
// on loopback comes only after the peer has read; the bytes and the counters are unchanged.
void zero_copy_sends_release_frames_on_notification() {
  constexpr int kClients = 8;
  constexpr uint32_t kFrames = 64;
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 64;
  cfg.zc_threshold = 1;  // every send
  CHECK_EQ(s.e.init(cfg), 0);
  if (!s.e.features().send_zc) return;
  int port = s.e.listen("127.0.0.1", 0);
  std::vector<int> fds;
  for (int i = 0; i < kClients; i++) fds.push_back(connect_client(port));
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == kClients; }));
  std::vector<uint8_t> expect;
  std::vector<size_t> got(fds.size(), 0);
  bool mismatch = false;
  for (uint32_t i = 0; i < kFrames; i++) {
    std::vector<uint8_t> p = make_payload(i * 7);
    Frame* f = s.e.copy_frame(p.data(), p.size());
    s.e.fanout(s.open.data(), s.open.size(), f);
    frame_unref(f);
    expect.insert(expect.end(), p.begin(), p.end());
    if (i % 4 == 3) s.e.flush();
  }
  CHECK(pump(s.e, s.handler(), [&] { return drain_clients(fds, got, expect, &mismatch); }));
  CHECK(!mismatch);
  CHECK(s.e.stats().zc_sends > 0);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_frames == 0; }));
  for (int fd : fds) close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

// A turn that completes more sends than the CQ holds: the kernel parks the rest in its
// overflow list (IORING_FEAT_NODROP), poll() flushes it, and nothing is lost.
void more_completions_than_the_cq_holds_lose_nothing() {
  constexpr int kClients = 300;
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 512;
  cfg.sq_entries = 64;
  cfg.cq_entries = 128;
  CHECK_EQ(s.e.init(cfg), 0);
  CHECK_EQ(s.e.sizing().cq_entries, 128);
  int port = s.e.listen("127.0.0.1", 0);
  std::vector<int> fds;
  for (int i = 0; i < kClients; i++) {
    fds.push_back(connect_client(port));
    if (i % 32 == 31) pump(s.e, s.handler(), [] { return true; });
  }
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == kClients; }));
  std::vector<uint8_t> expect;
  std::vector<size_t> got(fds.size(), 0);
  bool mismatch = false;
  for (uint32_t i = 0; i < 20; i++) {
    std::vector<uint8_t> p = make_payload(i);
    Frame* f = s.e.copy_frame(p.data(), p.size());
    s.e.fanout(s.open.data(), s.open.size(), f);
    frame_unref(f);
    expect.insert(expect.end(), p.begin(), p.end());
    s.e.flush();  // 300 sends, 300 CQEs into a CQ of 128
  }
  CHECK(pump(s.e, s.handler(), [&] { return drain_clients(fds, got, expect, &mismatch); }));
  CHECK(!mismatch);
  for (int fd : fds) close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  fanout_reaches_1000_sockets_in_order();
  a_slow_reader_overflows_alone();
  zero_copy_sends_release_frames_on_notification();
  more_completions_than_the_cq_holds_lose_nothing();
  return report();
}
