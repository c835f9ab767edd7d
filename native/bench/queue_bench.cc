// The outbound queue alone, without syscalls: what fanout + flush + completion cost in user
// space per delivery (queue_push, send_op_gather, queue_consume, send_op_release) over C
// connections, P publishes per round spread over T topics (subscriber i on topic i % T). A send
// built in round r completes in round r+1, as on a ring, so every connection has a SendOp in
// flight and frames queued behind it, and the pools and ConnSlot array are as cold as in the engine.
//   queue_bench [C=10000] [P=8] [T=10] [rounds=2000]
#include <cstdlib>
#include <utility>

#include "bench.h"
#include "engine/conn_slot.h"

using namespace ringcast;

namespace {

// The engine builds a msghdr only for 2+ frames once the queue has inline frames; before that,
// send_op_gather built it every time.
template <class Q>
constexpr auto has_inline(int) -> decltype(std::declval<Q>().in_n, bool()) {
  return true;
}
template <class Q>
constexpr bool has_inline(long) {
  return false;
}

template <class Op>
void prepare(Op* op) {
  if constexpr (has_inline<OutQueue>(0)) {
    if (op->n > 1) send_op_msg(op);
  }
}

}  // namespace

int main(int argc, char** argv) {
  size_t conns = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  int per_round = argc > 2 ? std::atoi(argv[2]) : 8;
  size_t topics = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 10;
  int rounds = argc > 4 ? std::atoi(argv[4]) : 2000;
  FrameCounters counters;
  NodePool nodes;
  SendOpPool ops;
  std::vector<ConnSlot> c(conns);
  std::vector<SendOp*> inflight(conns, nullptr);
  std::vector<std::vector<uint32_t>> subs(topics);
  for (size_t i = 0; i < conns; i++) subs[i % topics].push_back(static_cast<uint32_t>(i));
  std::vector<uint32_t> dirty;
  uint64_t deliveries = 0, sends = 0, published = 0;
  double t0 = bench::now_ns();
  for (int r = 0; r < rounds; r++) {
    for (int p = 0; p < per_round; p++) {  // fanout
      Frame* f = frame_alloc(&counters, 64);
      for (uint32_t s : subs[published++ % topics]) {
        queue_push(&c[s].q, &nodes, f);
        if (!c[s].has(kDirty)) {
          c[s].set(kDirty);
          dirty.push_back(s);
        }
        deliveries++;
      }
      frame_unref(f);
    }
    for (size_t s = 0; s < conns; s++) {  // completions of last round's sends, all bytes sent
      SendOp* op = inflight[s];
      if (!op) continue;
      queue_consume(&c[s].q, &nodes, op->bytes);
      send_op_release(op);
      ops.put(op);
      inflight[s] = nullptr;
      if (!c[s].q.empty() && !c[s].has(kDirty)) {
        c[s].set(kDirty);
        dirty.push_back(static_cast<uint32_t>(s));
      }
    }
    for (uint32_t s : dirty) {  // flush
      c[s].clear(kDirty);
      if (c[s].q.empty()) continue;
      SendOp* op = ops.get();
      send_op_gather(op, c[s].q);
      prepare(op);
      inflight[s] = op;
      sends++;
    }
    dirty.clear();
  }
  double ns = bench::now_ns() - t0;
  for (size_t s = 0; s < conns; s++) {
    if (inflight[s]) {
      send_op_release(inflight[s]);
      ops.put(inflight[s]);
    }
    queue_clear(&c[s].q, &nodes);
  }
  std::printf(
      "%zu conns, %d publishes/round over %zu topics: %llu deliveries, %llu sends, "
      "%.1f ns per delivery (live frames left %llu, nodes %llu)\n",
      conns, per_round, topics, static_cast<unsigned long long>(deliveries),
      static_cast<unsigned long long>(sends), ns / double(deliveries),
      static_cast<unsigned long long>(counters.live), static_cast<unsigned long long>(nodes.live()));
  return 0;
}
