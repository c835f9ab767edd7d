// How should a connection's queued frames leave? Per message cost of three ways to send 8 small
// frames to each of C connections in one submission:
//   separate  one SEND per frame                       (8 SQEs per connection)
//   sendmsg   one SENDMSG with 8 iovecs                 (the engine's path)
//   writev61  one WRITEV_FIXED (opcode 61, 6.15) with 8 iovecs into a registered arena
// Timed: submit + reap of every CQE (sends complete inline on loopback); draining the peers is
// outside the timed region.
#include <sys/uio.h>

#include <cstdlib>

#include "bench.h"
#include "engine/features.h"
#include "engine/file_table.h"
#include "engine/ring.h"

using namespace ringcast;

namespace {

constexpr int kConns = 256;
constexpr int kFrames = 8;
constexpr int kFrameBytes = 64;
constexpr int kRounds = 200;

enum class Way { kSeparate, kSendmsg, kWritevFixed };

struct Setup {
  Ring ring;
  FileTable files;
  std::vector<bench::Pair> pairs;
  std::vector<int> slots;
  uint8_t* arena = nullptr;  // kFrames frames, registered as buffer 0
  std::vector<iovec> iov;    // kFrames per connection
  std::vector<msghdr> msgs;
};

int setup(Setup* s) {
  if (s->ring.init({8192, 32768}) < 0) return -1;
  s->pairs = bench::make_pairs(kConns);
  if (s->files.init(s->ring, kConns) < 0) return -1;
  for (const bench::Pair& p : s->pairs) s->slots.push_back(s->files.install(p.server));
  s->arena = static_cast<uint8_t*>(aligned_alloc(4096, 4096));
  std::memset(s->arena, 'a', 4096);
  iovec reg = {s->arena, 4096};
  if (s->ring.register_op(IORING_REGISTER_BUFFERS, &reg, 1) < 0) return -2;
  s->iov.resize(kConns * kFrames);
  s->msgs.resize(kConns);
  for (int c = 0; c < kConns; c++) {
    for (int f = 0; f < kFrames; f++) s->iov[c * kFrames + f] = {s->arena + f * kFrameBytes, kFrameBytes};
    std::memset(&s->msgs[c], 0, sizeof(msghdr));
    s->msgs[c].msg_iov = &s->iov[c * kFrames];
    s->msgs[c].msg_iovlen = kFrames;
  }
  return 0;
}

void prep(Setup* s, Way way, int c) {
  if (way == Way::kSeparate) {
    for (int f = 0; f < kFrames; f++) {
      io_uring_sqe* sqe = s->ring.get_sqe();
      sqe->opcode = IORING_OP_SEND;
      sqe->fd = s->slots[c];
      sqe->flags = IOSQE_FIXED_FILE;
      sqe->addr = reinterpret_cast<uint64_t>(s->arena + f * kFrameBytes);
      sqe->len = kFrameBytes;
      sqe->msg_flags = MSG_NOSIGNAL;
    }
    return;
  }
  io_uring_sqe* sqe = s->ring.get_sqe();
  sqe->fd = s->slots[c];
  sqe->flags = IOSQE_FIXED_FILE;
  if (way == Way::kSendmsg) {
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->addr = reinterpret_cast<uint64_t>(&s->msgs[c]);
    sqe->len = 1;
    sqe->msg_flags = MSG_NOSIGNAL;
  } else {
    sqe->opcode = RC_IORING_OP_WRITEV_FIXED;
    sqe->addr = reinterpret_cast<uint64_t>(&s->iov[c * kFrames]);
    sqe->len = kFrames;
    sqe->buf_index = 0;
  }
}

// Returns ns per delivered frame, or -1 when a send failed.
double run(Setup* s, Way way) {
  uint32_t per_round = way == Way::kSeparate ? kConns * kFrames : kConns;
  double timed = 0;
  for (int r = 0; r < kRounds; r++) {
    double t0 = bench::now_ns();
    for (int c = 0; c < kConns; c++) prep(s, way, c);
    s->ring.submit(0);
    uint32_t seen = 0;
    while (seen < per_round) {
      io_uring_cqe* cqe = s->ring.peek_cqe();
      if (!cqe) {
        s->ring.submit(1);
        continue;
      }
      if (cqe->res < 0) {
        std::fprintf(stderr, "send failed: %s\n", std::strerror(-cqe->res));
        return -1;
      }
      s->ring.cq_advance(1);
      seen++;
    }
    timed += bench::now_ns() - t0;
    bench::drain(s->pairs, kFrames * kFrameBytes);
  }
  return timed / (double(kRounds) * kConns * kFrames);
}

}  // namespace

int main() {
  Setup s;
  if (setup(&s) < 0) {
    std::fprintf(stderr, "setup failed\n");
    return 1;
  }
  Features f;
  detect_features(s.ring, &f);
  std::printf("kernel %d.%d; %d conns x %d frames of %d B per round, %d rounds\n", f.kernel_major,
              f.kernel_minor, kConns, kFrames, kFrameBytes, kRounds);
  for (int rep = 0; rep < 3; rep++) {
    double sep = run(&s, Way::kSeparate);
    double msg = run(&s, Way::kSendmsg);
    double wfx = f.writev_fixed ? run(&s, Way::kWritevFixed) : -1;
    std::printf("ns per frame: separate %.0f  sendmsg %.0f  writev_fixed %.0f\n", sep, msg, wfx);
  }
  bench::close_pairs(s.pairs);
  return 0;
}
