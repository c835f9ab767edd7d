// The engine's whole fanout path, as the hub will drive it: C subscribers over loopback,
// publishes of B bytes arriving P per turn, each fanned out to every subscriber, one flush per
// turn. Prints the engine thread's CPU time per delivery (fanout + flush + poll; on loopback
// this includes the kernel's delivery into the peer socket) and deliveries per second.
// Draining the clients runs in the same thread but outside the measured calls.
//   fanout_bench [C=1000] [P=8] [B=64] [turns=200] [topics=1] [shuffle=0]
// With topics > 1, subscriber i is on topic i % topics and publish k of the run goes to topic
// k % topics only (the hub's case: 8 publishes over 10 topics leave ~1 frame per connection).
// shuffle=1 puts each topic's subscribers in random slot order, as a long-running hub has them.
// Also printed: the CPU of the fanout() calls alone (queueing, no syscall) per delivery.
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "bench.h"
#include "engine/engine.h"
#include "engine/self_test.h"

using namespace ringcast;

namespace {

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  int conns = argc > 1 ? std::atoi(argv[1]) : 1000;
  int per_turn = argc > 2 ? std::atoi(argv[2]) : 8;
  int bytes = argc > 3 ? std::atoi(argv[3]) : 64;
  int turns = argc > 4 ? std::atoi(argv[4]) : 200;
  int topics = argc > 5 ? std::max(1, std::atoi(argv[5])) : 1;
  bool shuffle = argc > 6 && std::atoi(argv[6]) != 0;
  Engine e;
  EngineConfig cfg;
  cfg.max_slots = static_cast<uint32_t>(conns + 16);
  if (e.init(cfg) < 0) return 1;
  int port = e.listen("127.0.0.1", 0);
  std::vector<int> clients;
  std::vector<ConnId> ids;
  while (static_cast<int>(ids.size()) < conns) {
    if (static_cast<int>(clients.size()) < conns) clients.push_back(connect_loopback(port));
    e.poll(0);
    for (const Event& ev : e.events()) {
      if (ev.type == EventType::kOpen) ids.push_back(ev.conn);
    }
  }
  std::vector<std::vector<ConnId>> by_topic(static_cast<size_t>(topics));
  for (size_t i = 0; i < ids.size(); i++) by_topic[i % by_topic.size()].push_back(ids[i]);
  if (shuffle) {
    std::mt19937 rng(42);
    for (auto& subs : by_topic) std::shuffle(subs.begin(), subs.end(), rng);
  }
  double fanout_cpu = 0;
  uint64_t published = 0;
  std::vector<uint8_t> payload(static_cast<size_t>(bytes), 'm');
  double cpu = 0, wall0 = bench::now_ns();
  uint64_t deliveries = 0;
  for (int t = 0; t < turns; t++) {
    double c0 = thread_cpu_ns();
    double f0 = thread_cpu_ns();
    for (int p = 0; p < per_turn; p++) {
      Frame* f = e.copy_frame(payload.data(), payload.size());
      const std::vector<ConnId>& subs = by_topic[published++ % by_topic.size()];
      deliveries += e.fanout(subs.data(), subs.size(), f);
      frame_unref(f);
    }
    fanout_cpu += thread_cpu_ns() - f0;
    e.flush();
    e.poll(0);
    cpu += thread_cpu_ns() - c0;
    static char buf[1 << 16];
    for (int fd : clients) {
      while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
      }
    }
  }
  // Let the last sends complete, and count them.
  for (int i = 0; i < 100 && e.stats().bytes_queued; i++) {
    double c0 = thread_cpu_ns();
    e.poll(1);
    e.flush();
    cpu += thread_cpu_ns() - c0;
    static char buf[1 << 16];
    for (int fd : clients) {
      while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
      }
    }
  }
  double wall = bench::now_ns() - wall0;
  EngineStats st = e.stats();
  std::printf(
      "%d subscribers, %d topics, %d publishes/turn of %d B, %d turns: %llu deliveries in %llu sends\n",
      conns, topics, per_turn, bytes, turns, static_cast<unsigned long long>(deliveries),
      static_cast<unsigned long long>(st.sends));
  std::printf(
      "engine CPU per delivery: %.0f ns (fanout() alone: %.1f ns); wall incl. client "
      "reads: %.0f ns per delivery\n",
      cpu / double(deliveries), fanout_cpu / double(deliveries), wall / double(deliveries));
  for (int fd : clients) close(fd);
  return 0;
}
