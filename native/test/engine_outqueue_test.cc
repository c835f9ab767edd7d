// The outbound queue's inline part and its spill list, the one-frame SEND and the copied SEND:
// the queue primitives against a plain model (no kernel), then the engine over loopback: a
// one-frame send goes out as IORING_OP_SEND, a few small frames as one copied SEND, more as a
// gathered SENDMSG; short sends (plain, copied) resume at head_off, frames spill to nodes and
// come back in order, and every counter ends at zero.
#include <deque>
#include <random>
#include <vector>

#include "engine/conn_slot.h"
#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

// What the queue should hold: frames oldest first and the bytes of the head already sent.
struct Model {
  std::deque<Frame*> frames;
  uint32_t head_off = 0;
  uint64_t bytes() const {
    uint64_t b = 0;
    for (Frame* f : frames) b += f->len;
    return frames.empty() ? 0 : b - head_off;
  }
};

// Gathers the queue and compares every iovec (and the frame it points into) with the model.
void check_gather(const OutQueue& q, const Model& m, SendOp* op) {
  uint64_t bytes = send_op_gather(op, q);
  size_t expect_n = std::min<size_t>(m.frames.size(), kMaxIov);
  CHECK_EQ(op->n, expect_n);
  uint64_t expect_bytes = 0;
  for (uint32_t i = 0; i < op->n && i < expect_n; i++) {
    Frame* f = m.frames[i];
    uint32_t off = i == 0 ? m.head_off : 0;
    CHECK(op->iov[i].iov_base == f->data() + off);
    CHECK_EQ(op->iov[i].iov_len, f->len - off);
    CHECK(send_op_frame(op, i) == f);
    expect_bytes += f->len - off;
  }
  CHECK_EQ(bytes, expect_bytes);
  CHECK_EQ(op->bytes, expect_bytes);
  send_op_release(op);
}

// Copies the queue when it qualifies and compares the bytes with the model's frames; the copy
// takes no references.
void check_copy(const OutQueue& q, const Model& m, SendOp* op) {
  const bool fits = m.frames.size() >= 2 && m.bytes() <= kCopySendBytes;
  CHECK_EQ(queue_fits_copy(q), fits);
  if (!fits) return;
  std::vector<uint32_t> refs;
  for (Frame* f : m.frames) refs.push_back(f->refs);
  std::vector<uint8_t> expect;
  for (size_t i = 0; i < m.frames.size(); i++) {
    const uint8_t* d = m.frames[i]->data();
    expect.insert(expect.end(), d + (i == 0 ? m.head_off : 0), d + m.frames[i]->len);
  }
  const uint64_t bytes = send_op_copy(op, q);
  CHECK_EQ(bytes, expect.size());
  CHECK_EQ(op->n, m.frames.size());
  CHECK(op->copied);
  CHECK(std::vector<uint8_t>(op->copy, op->copy + bytes) == expect);
  for (size_t i = 0; i < m.frames.size(); i++) CHECK_EQ(m.frames[i]->refs, refs[i]);
  send_op_release(op);
  for (size_t i = 0; i < m.frames.size(); i++) CHECK_EQ(m.frames[i]->refs, refs[i]);
  CHECK(!op->copied);
}

uint32_t refs_of(const Model& m, Frame* f) {
  uint32_t n = 0;
  for (Frame* g : m.frames) n += g == f;
  return n;
}

void inline_then_spill_in_order() {
  FrameCounters counters;
  NodePool pool;
  OutQueue q;
  SendOp op;
  Model m;
  std::vector<Frame*> fs;
  for (uint32_t i = 0; i < 6; i++) fs.push_back(frame_alloc(&counters, 10 + i));

  // One frame, then a short send inside it, then the rest: no node at all.
  queue_push(&q, &pool, fs[0]);
  m.frames.push_back(fs[0]);
  CHECK_EQ(pool.live(), 0);
  CHECK_EQ(q.in_n, 1);
  CHECK_EQ(fs[0]->refs, 2);
  check_gather(q, m, &op);
  CHECK_EQ(fs[0]->refs, 2);  // gather's reference dropped by send_op_release
  queue_consume(&q, &pool, 4);
  m.head_off = 4;
  CHECK_EQ(q.head_off, 4);
  CHECK_EQ(q.bytes, m.bytes());
  check_gather(q, m, &op);

  // Up to kInlineFrames inline, the rest in nodes; the order holds across the boundary.
  for (uint32_t i = 1; i < 6; i++) {
    queue_push(&q, &pool, fs[i]);
    m.frames.push_back(fs[i]);
  }
  CHECK_EQ(q.in_n, kInlineFrames);
  CHECK_EQ(pool.live(), 6 - kInlineFrames);
  CHECK_EQ(q.bytes, m.bytes());
  check_gather(q, m, &op);

  // Consume past the inline frames into the middle of the first spilled one.
  uint64_t n = 0;
  for (uint32_t i = 0; i < kInlineFrames; i++) n += m.frames[i]->len - (i == 0 ? m.head_off : 0);
  queue_consume(&q, &pool, n + 3);
  for (uint32_t i = 0; i < kInlineFrames; i++) m.frames.pop_front();
  m.head_off = 3;
  CHECK_EQ(q.in_n, 0);
  CHECK_EQ(q.head_off, 3);
  CHECK_EQ(q.bytes, m.bytes());
  check_gather(q, m, &op);

  // With the inline part empty but nodes queued, a new frame must go behind the nodes.
  queue_push(&q, &pool, fs[0]);
  m.frames.push_back(fs[0]);
  CHECK_EQ(q.in_n, 0);
  check_gather(q, m, &op);

  // Keep the partly sent head only (what overflow() does with nothing in flight).
  queue_truncate(&q, &pool, 1);
  m.frames.resize(1);
  CHECK_EQ(q.bytes, m.bytes());
  CHECK_EQ(q.head_off, 3);
  check_gather(q, m, &op);
  queue_clear(&q, &pool);
  CHECK(q.empty());
  CHECK_EQ(q.bytes, 0);
  CHECK_EQ(q.head_off, 0);
  CHECK_EQ(pool.live(), 0);
  for (Frame* f : fs) {
    CHECK_EQ(f->refs, 1);
    frame_unref(f);
  }
  CHECK_EQ(counters.live, 0);
}

// Random pushes, consumes (whole and short), truncates and clears against the model.
void random_operations_match_the_model() {
  FrameCounters counters;
  NodePool pool;
  OutQueue q;
  SendOp op;
  Model m;
  std::mt19937 rng(12345);
  std::vector<Frame*> fs;
  for (uint32_t i = 0; i < 16; i++) {
    fs.push_back(frame_alloc(&counters, 1 + i * 7));
    for (uint32_t b = 0; b < fs.back()->len; b++) fs.back()->data()[b] = static_cast<uint8_t>(i * 31 + b);
  }
  for (int step = 0; step < 20000; step++) {
    uint32_t what = rng() % 100;
    if (what < 45) {
      Frame* f = fs[rng() % fs.size()];
      queue_push(&q, &pool, f);
      m.frames.push_back(f);
    } else if (what < 85) {
      uint64_t n = m.bytes() ? rng() % (m.bytes() + 1) : 0;
      queue_consume(&q, &pool, n);
      while (n && !m.frames.empty()) {
        uint64_t left = m.frames.front()->len - m.head_off;
        if (n < left) {
          m.head_off += static_cast<uint32_t>(n);
          break;
        }
        n -= left;
        m.frames.pop_front();
        m.head_off = 0;
      }
    } else if (what < 95) {
      uint32_t keep = static_cast<uint32_t>(rng() % (m.frames.size() + 2));
      if (keep == 0 && m.head_off) keep = 1;  // the engine never cuts a partly sent head
      queue_truncate(&q, &pool, keep);
      if (keep < m.frames.size()) m.frames.resize(keep);
      if (m.frames.empty()) m.head_off = 0;
    } else if (what < 96) {
      queue_clear(&q, &pool);
      m.frames.clear();
      m.head_off = 0;
    } else if (what < 98) {
      check_copy(q, m, &op);
    } else {
      check_gather(q, m, &op);
    }
    if (q.bytes != m.bytes() || q.head_off != m.head_off || q.empty() != m.frames.empty()) {
      CHECK_EQ(q.bytes, m.bytes());
      CHECK_EQ(q.head_off, m.head_off);
      CHECK_EQ(q.empty(), m.frames.empty());
      break;
    }
    size_t spilled = m.frames.size() > q.in_n ? m.frames.size() - q.in_n : 0;
    if (pool.live() != spilled || q.in_n > kInlineFrames) {
      CHECK_EQ(pool.live(), spilled);
      break;
    }
  }
  check_gather(q, m, &op);
  for (Frame* f : fs) CHECK_EQ(f->refs, 1 + refs_of(m, f));
  queue_clear(&q, &pool);
  CHECK_EQ(pool.live(), 0);
  for (Frame* f : fs) frame_unref(f);
  CHECK_EQ(counters.live, 0);
}

// More frames than one send takes: the first kMaxIov go, the rest wait for the next.
void a_long_spill_is_gathered_kMaxIov_at_a_time() {
  FrameCounters counters;
  NodePool pool;
  OutQueue q;
  SendOp op;
  Model m;
  Frame* f = frame_alloc(&counters, 5);
  for (uint32_t i = 0; i < kMaxIov + 10; i++) {
    queue_push(&q, &pool, f);
    m.frames.push_back(f);
  }
  check_gather(q, m, &op);
  queue_consume(&q, &pool, uint64_t{kMaxIov} * 5);
  m.frames.erase(m.frames.begin(), m.frames.begin() + kMaxIov);
  check_gather(q, m, &op);
  CHECK_EQ(m.frames.size(), 10);  // check_gather saw n == 10
  queue_clear(&q, &pool);
  CHECK_EQ(pool.live(), 0);
  CHECK_EQ(f->refs, 1);
  frame_unref(f);
  CHECK_EQ(counters.live, 0);
}

struct Server {
  Engine e;
  std::vector<ConnId> open;
  std::function<void(const Event&)> handler() {
    return [this](const Event& ev) {
      if (ev.type == EventType::kOpen) open.push_back(ev.conn);
    };
  }
};

bool drain(const std::vector<int>& fds, std::vector<std::vector<uint8_t>>& got, size_t want) {
  uint8_t buf[65536];
  bool all = true;
  for (size_t i = 0; i < fds.size(); i++) {
    for (;;) {
      ssize_t r = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
      if (r <= 0) break;
      got[i].insert(got[i].end(), buf, buf + r);
    }
    all = all && got[i].size() >= want;
  }
  return all;
}

// One frame per turn per connection, read at once: every send is a one-frame SEND; then 8 per
// turn: gathered SENDMSGs. The bytes arrive in order either way.
void one_frame_sends_are_plain_sends() {
  constexpr int kClients = 16;
  Server s;
  EngineConfig cfg;
  cfg.max_slots = 64;
  CHECK_EQ(s.e.init(cfg), 0);
  int port = s.e.listen("127.0.0.1", 0);
  std::vector<int> fds;
  for (int i = 0; i < kClients; i++) fds.push_back(connect_client(port));
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == kClients; }));
  std::vector<uint8_t> expect;
  std::vector<std::vector<uint8_t>> got(fds.size());
  auto publish = [&](uint32_t i) {
    std::vector<uint8_t> p(20 + i % 50, static_cast<uint8_t>(i));
    std::memcpy(p.data(), &i, 4);
    Frame* f = s.e.copy_frame(p.data(), p.size());
    CHECK_EQ(s.e.fanout(s.open.data(), s.open.size(), f), s.open.size());
    frame_unref(f);
    expect.insert(expect.end(), p.begin(), p.end());
  };
  EngineStats before = s.e.stats();
  for (uint32_t i = 0; i < 40; i++) {
    publish(i);
    s.e.flush();
    CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().sends_in_flight == 0; }));
  }
  EngineStats mid = s.e.stats();
  CHECK_EQ(mid.sends - before.sends, 40 * kClients);
  CHECK_EQ(mid.single_sends - before.single_sends, 40 * kClients);
  CHECK_EQ(mid.queue_nodes, 0);
  for (uint32_t i = 40; i < 80; i += 8) {
    for (uint32_t k = i; k < i + 8; k++) publish(k);
    s.e.flush();
    CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().sends_in_flight == 0; }));
  }
  EngineStats end = s.e.stats();
  CHECK_EQ(end.single_sends, mid.single_sends);  // 8 small frames queued: copied, one SEND
  CHECK_EQ(end.sends - mid.sends, 5 * kClients);
  CHECK_EQ(end.copied_sends - mid.copied_sends, 5 * kClients);
  // 8 frames of 200 bytes: more than a copy takes, so a gathered SENDMSG.
  for (uint32_t k = 80; k < 88; k++) {
    std::vector<uint8_t> p(200, static_cast<uint8_t>(k));
    Frame* f = s.e.copy_frame(p.data(), p.size());
    CHECK_EQ(s.e.fanout(s.open.data(), s.open.size(), f), s.open.size());
    frame_unref(f);
    expect.insert(expect.end(), p.begin(), p.end());
  }
  s.e.flush();
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().sends_in_flight == 0; }));
  EngineStats big = s.e.stats();
  CHECK_EQ(big.sends - end.sends, kClients);
  CHECK_EQ(big.copied_sends, end.copied_sends);
  CHECK_EQ(big.single_sends, end.single_sends);
  CHECK(pump(s.e, s.handler(), [&] { return drain(fds, got, expect.size()); }));
  for (auto& g : got) CHECK(g == expect);
  for (int fd : fds) close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

// A frame far larger than the socket buffers, alone in the queue: the one-frame SEND is short,
// the rest goes from head_off; frames queued behind it stay inline, then spill to nodes, and
// the reader gets every byte in order.
// One connected client whose receive buffer, and the server socket's send buffer, are `bytes`:
// sends meet a full socket early. Returns the client's fd.
int one_small_client(Server& s, int bytes) {
  EngineConfig cfg;
  cfg.max_slots = 16;
  CHECK_EQ(s.e.init(cfg), 0);
  int fd = connect_client(s.e.listen("127.0.0.1", 0));
  set_rcvbuf(fd, bytes);
  CHECK(pump(s.e, s.handler(), [&] { return s.open.size() == 1; }));
  setsockopt(s.e.fd_of(s.open[0]), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  return fd;
}

void a_short_send_inside_the_inline_part_resumes() {
  constexpr uint32_t kBig = 1 << 20;
  Server s;
  int fd = one_small_client(s, 8192);
  std::vector<uint8_t> expect(kBig);
  for (uint32_t i = 0; i < kBig; i++) expect[i] = static_cast<uint8_t>(i * 7 + i / 251);
  Frame* big = s.e.copy_frame(expect.data(), expect.size());
  CHECK_EQ(s.e.send(s.open[0], big), 0);
  frame_unref(big);
  EngineStats before = s.e.stats();
  s.e.flush();
  CHECK_EQ(s.e.stats().single_sends - before.single_sends, 1);
  // Wait for the first (short) completion without reading, so the head is partly sent.
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().short_sends > 0; }));
  // Six small frames behind it: one inline beside the head, the rest spilled.
  for (uint32_t i = 0; i < 6; i++) {
    std::vector<uint8_t> p(100 + i, static_cast<uint8_t>(0xa0 + i));
    Frame* f = s.e.copy_frame(p.data(), p.size());
    CHECK_EQ(s.e.send(s.open[0], f), 0);
    frame_unref(f);
    expect.insert(expect.end(), p.begin(), p.end());
  }
  CHECK_EQ(s.e.stats().queue_nodes, 7 - kInlineFrames);
  std::vector<std::vector<uint8_t>> got(1);
  CHECK(pump(
      s.e, s.handler(), [&] { return drain({fd}, got, expect.size()); }, 20000));
  CHECK(got[0] == expect);
  EngineStats end = s.e.stats();
  std::printf("big frame: %llu sends, %llu of them one-frame SENDs, %llu short\n",
              static_cast<unsigned long long>(end.sends - before.sends),
              static_cast<unsigned long long>(end.single_sends - before.single_sends),
              static_cast<unsigned long long>(end.short_sends - before.short_sends));
  CHECK(end.single_sends - before.single_sends >= 2);  // the head resumed alone at least once
  CHECK(end.sends > end.single_sends);                 // and the small ones went gathered
  CHECK_EQ(end.queue_nodes, 0);
  CHECK_EQ(end.bytes_queued, 0);
  close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

// Small frames into a nearly full socket: copied sends come back short, the rest (part of a
// frame, then whole ones) goes in the next copy from head_off, and the bytes arrive in order.
void short_copied_sends_resume_mid_frame() {
  Server s;
  int fd = one_small_client(s, 4096);
  std::vector<uint8_t> expect;
  std::vector<uint8_t> got;
  uint8_t buf[65536];
  const EngineStats before = s.e.stats();
  for (uint32_t round = 0; round < 200; round++) {
    for (uint32_t k = 0; k < 8; k++) {
      std::vector<uint8_t> p(90 + (round + k) % 17);
      for (size_t b = 0; b < p.size(); b++) p[b] = static_cast<uint8_t>(round * 13 + k * 7 + b);
      Frame* f = s.e.copy_frame(p.data(), p.size());
      CHECK_EQ(s.e.send(s.open[0], f), 0);
      frame_unref(f);
      expect.insert(expect.end(), p.begin(), p.end());
    }
    s.e.flush();
    // Nobody reads until the socket is full: the send that meets the limit is taken only in
    // part. Then the reader empties the socket and the rest goes.
    auto sent = [&] {
      EngineStats st = s.e.stats();
      return st.sends_in_flight == 0 && st.bytes_queued == 0;
    };
    if (!pump(s.e, s.handler(), sent, 20)) {
      CHECK(pump(s.e, s.handler(), [&] {
        for (ssize_t r; (r = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;)
          got.insert(got.end(), buf, buf + r);
        return sent();
      }));
    }
  }
  std::vector<std::vector<uint8_t>> rest(1);
  CHECK(pump(s.e, s.handler(), [&] { return drain({fd}, rest, expect.size() - got.size()); }));
  got.insert(got.end(), rest[0].begin(), rest[0].end());
  CHECK(got == expect);
  const EngineStats end = s.e.stats();
  std::printf("small frames: %llu sends, %llu copied, %llu short\n",
              static_cast<unsigned long long>(end.sends - before.sends),
              static_cast<unsigned long long>(end.copied_sends - before.copied_sends),
              static_cast<unsigned long long>(end.short_sends - before.short_sends));
  CHECK(end.copied_sends - before.copied_sends > 0);
  CHECK(end.short_sends - before.short_sends > 0);
  // At most 8 small frames and a remainder queued: every send was a copy or a lone remainder.
  CHECK_EQ(end.sends - before.sends,
           (end.copied_sends - before.copied_sends) + (end.single_sends - before.single_sends));
  close(fd);
  CHECK(pump(s.e, s.handler(), [&] { return s.e.stats().live_slots == 0; }));
  check_quiet(s.e);
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  static_assert(sizeof(ConnSlot) <= 64, "an idle connection's engine state stays one cache line");
  inline_then_spill_in_order();
  random_operations_match_the_model();
  a_long_spill_is_gathered_kMaxIov_at_a_time();
  one_frame_sends_are_plain_sends();
  a_short_send_inside_the_inline_part_resumes();
  short_copied_sends_resume_mid_frame();
  return report();
}
