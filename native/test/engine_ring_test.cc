// The ring on its own: setup flags, NOP round trips, a full SQ that submits itself, the probe,
// and the named bit-packing of ids and user_data.
#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

static void nop_round_trip_returns_user_data() {
  Ring ring;
  CHECK_EQ(ring.init({64, 256}), 0);
  CHECK(ring.setup_flags() & IORING_SETUP_DEFER_TASKRUN);
  CHECK(ring.setup_flags() & IORING_SETUP_SINGLE_ISSUER);
  CHECK(ring.features() & IORING_FEAT_SINGLE_MMAP);
  CHECK_EQ(ring.cq_entries(), 256);
  for (uint64_t i = 0; i < 3; i++) {
    io_uring_sqe* sqe = ring.get_sqe();
    sqe->opcode = IORING_OP_NOP;
    sqe->user_data = 100 + i;
  }
  CHECK_EQ(ring.sq_pending(), 3);
  CHECK_EQ(ring.submit(3), 3);
  CHECK_EQ(ring.cq_ready(), 3);
  for (uint64_t i = 0; i < 3; i++) {
    io_uring_cqe* cqe = ring.peek_cqe();
    CHECK(cqe != nullptr);
    if (!cqe) return;
    CHECK_EQ(cqe->user_data, 100 + i);
    CHECK_EQ(cqe->res, 0);
    ring.cq_advance(1);
  }
  CHECK(ring.peek_cqe() == nullptr);
}

static void a_full_sq_submits_to_make_room() {
  Ring ring;
  CHECK_EQ(ring.init({64, 1024}), 0);
  for (int i = 0; i < 200; i++) {
    io_uring_sqe* sqe = ring.get_sqe();
    CHECK(sqe != nullptr);
    if (!sqe) return;
    sqe->opcode = IORING_OP_NOP;
  }
  CHECK(ring.sq_pending() <= 64);
  ring.submit(0);
  CHECK_EQ(ring.cq_ready(), 200);
  ring.cq_advance(200);
}

static void wait_with_timeout_returns_etime() {
  Ring ring;
  CHECK_EQ(ring.init({64, 256}), 0);
  double t0 = now_ms();
  CHECK_EQ(ring.submit_and_wait_timeout(20 * 1000000ull), -ETIME);
  CHECK(now_ms() - t0 >= 15);
}

static void probe_lists_the_ops_we_use() {
  Ring ring;
  CHECK_EQ(ring.init({64, 256}), 0);
  Features f;
  CHECK_EQ(detect_features(ring, &f), 0);
  CHECK(f.op(IORING_OP_SENDMSG));
  CHECK(f.op(IORING_OP_RECV));
  CHECK(f.op(IORING_OP_ACCEPT));
  CHECK(f.op(IORING_OP_ASYNC_CANCEL));
  CHECK(f.defer_taskrun);
  CHECK(f.pbuf_ring);
  CHECK(f.multishot);
  CHECK(!f.names().empty());
  std::printf("kernel %d.%d, last op %u, features: %s\n", f.kernel_major, f.kernel_minor, f.last_op,
              f.names().c_str());
}

static void ids_and_user_data_round_trip() {
  ConnId id = make_conn_id(kMaxSlots - 1, kGenMask);
  CHECK_EQ(conn_slot(id), kMaxSlots - 1);
  CHECK_EQ(conn_gen(id), kGenMask);
  CHECK_EQ(next_gen(kGenMask), 0);
  uint64_t ud = pack_user_data(Op::kSendZc, id);
  CHECK(user_data_op(ud) == Op::kSendZc);
  CHECK_EQ(user_data_conn(ud), id);
  CHECK(make_conn_id(5, 1) != make_conn_id(5, 2));
  CHECK(std::strcmp(op_name(Op::kRecv), "recv") == 0);
}

static void sizing_fits_the_memlock_budget() {
  Sizing s = plan_sizing({4096, 16384, 1024, 1});
  std::printf("sizing: %s\n", s.describe().c_str());
  if (!s.unlimited) CHECK(s.pinned_bytes <= s.memlock_limit / 2);
  CHECK(s.sq_entries >= 64);
}

int main() {
  nop_round_trip_returns_user_data();
  a_full_sq_submits_to_make_room();
  wait_with_timeout_returns_etime();
  probe_lists_the_ops_we_use();
  ids_and_user_data_round_trip();
  sizing_fits_the_memlock_budget();
  return report();
}
