// Where does SENDMSG_ZC pay on loopback? Per send cost of SENDMSG vs SENDMSG_ZC for one frame of
// S bytes to each of C connections per submission. A zero-copy send is complete only at its
// notification CQE, so the timed region waits for those too. On loopback the kernel still
// copies into the receiver, so the question is whether skipping the sender-side copy outweighs
// pinning pages and the extra CQE.
#include <sys/uio.h>

#include "bench.h"
#include "engine/file_table.h"
#include "engine/ring.h"

using namespace ringcast;

namespace {

constexpr int kConns = 8;
constexpr int kRounds = 200;

struct Setup {
  Ring ring;
  FileTable files;
  std::vector<bench::Pair> pairs;
  std::vector<int> slots;
  std::vector<uint8_t> frame;
  iovec iov;
  msghdr msg;
};

// Reaps until every result (results_only) or every result and notification has arrived.
bool reap(Setup* s, int* results, int* notifs, bool results_only) {
  while (*results || (!results_only && *notifs)) {
    io_uring_cqe* cqe = s->ring.peek_cqe();
    if (!cqe) {
      s->ring.submit(1);
      continue;
    }
    if (cqe->flags & IORING_CQE_F_NOTIF) {
      (*notifs)--;
    } else {
      if (cqe->res < 0) {
        std::fprintf(stderr, "send failed: %s\n", std::strerror(-cqe->res));
        return false;
      }
      (*results)--;
      if (cqe->flags & IORING_CQE_F_MORE) (*notifs)++;
    }
    s->ring.cq_advance(1);
  }
  return true;
}

enum class Way { kSendmsg, kSendmsgZc, kSendZcFixed };

double run(Setup* s, size_t bytes, Way way) {
  s->iov = {s->frame.data(), bytes};
  std::memset(&s->msg, 0, sizeof s->msg);
  s->msg.msg_iov = &s->iov;
  s->msg.msg_iovlen = 1;
  double timed = 0;
  for (int r = 0; r < kRounds; r++) {
    double t0 = bench::now_ns();
    for (int c = 0; c < kConns; c++) {
      io_uring_sqe* sqe = s->ring.get_sqe();
      sqe->fd = s->slots[c];
      sqe->flags = IOSQE_FIXED_FILE;
      sqe->msg_flags = MSG_NOSIGNAL;
      if (way == Way::kSendZcFixed) {  // one buffer straight from registered memory (6.0)
        sqe->opcode = IORING_OP_SEND_ZC;
        sqe->ioprio = IORING_RECVSEND_FIXED_BUF;
        sqe->buf_index = 0;
        sqe->addr = reinterpret_cast<uint64_t>(s->frame.data());
        sqe->len = static_cast<uint32_t>(bytes);
      } else {
        sqe->opcode = way == Way::kSendmsgZc ? IORING_OP_SENDMSG_ZC : IORING_OP_SENDMSG;
        sqe->addr = reinterpret_cast<uint64_t>(&s->msg);
        sqe->len = 1;
      }
    }
    s->ring.submit(0);
    int results = kConns, notifs = 0;
    if (!reap(s, &results, &notifs, true)) return -1;
    timed += bench::now_ns() - t0;
    // On loopback the pages travel to the receiver, so the notification cannot come before
    // the peer has read: drain first (untimed), then time the wait for the notifications.
    bench::drain(s->pairs, bytes);
    t0 = bench::now_ns();
    if (!reap(s, &results, &notifs, false)) return -1;
    timed += bench::now_ns() - t0;
  }
  return timed / (double(kRounds) * kConns);
}

}  // namespace

int main() {
  Setup s;
  if (s.ring.init({256, 1024}) < 0) return 1;
  s.pairs = bench::make_pairs(kConns);
  s.files.init(s.ring, kConns);
  int big = 4 << 20;  // room for the largest frame on both sides (SO_*BUFFORCE needs root)
  for (const bench::Pair& p : s.pairs) {
    s.slots.push_back(s.files.install(p.server));
    setsockopt(p.server, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    setsockopt(p.client, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  }
  s.frame.assign(1 << 20, 'z');
  iovec reg = {s.frame.data(), s.frame.size()};
  bool fixed = s.ring.register_op(IORING_REGISTER_BUFFERS, &reg, 1) == 0;
  std::printf("%d conns, %d rounds; us per send (lower is better)\n", kConns, kRounds);
  std::printf("%10s %10s %10s %14s\n", "bytes", "sendmsg", "sendmsg_zc", "send_zc_fixed");
  for (size_t bytes = 1024; bytes <= (1u << 20); bytes *= 4) {
    double copy = run(&s, bytes, Way::kSendmsg);
    double zc = run(&s, bytes, Way::kSendmsgZc);
    double zf = fixed ? run(&s, bytes, Way::kSendZcFixed) : -1000;
    std::printf("%10zu %10.2f %10.2f %14.2f\n", bytes, copy / 1000, zc / 1000, zf / 1000);
  }
  bench::close_pairs(s.pairs);
  return 0;
}
