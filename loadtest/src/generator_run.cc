// The phases in order, each bounded in time, and the progress line once a second.
#include <csignal>
#include <cstdio>

#include "clock.h"
#include "generator.h"
#include "proc_cpu.h"

namespace loadgen {
namespace {

volatile sig_atomic_t g_stop = 0;

// How often the loop wakes with nothing to read: open-loop pacing and phase deadlines.
constexpr uint64_t kIdlePollNs = 200000;  // 0.2 ms

double us(uint64_t ns) { return double(ns) / 1000.0; }

}  // namespace

// The first signal ends the current phase (the drain still runs); a second one ends the drain.
void Generator::request_stop() { g_stop = g_stop + 1; }
bool Generator::stop_requested() { return g_stop != 0; }

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Connect:
      return "connect";
    case Phase::Subscribe:
      return "subscribe";
    case Phase::Warmup:
      return "warmup";
    case Phase::Measure:
      return "measure";
    case Phase::Drain:
      return "drain";
    case Phase::Hold:
      return "hold";
    case Phase::Done:
      return "done";
  }
  return "?";
}

void Generator::enter(Phase p) {
  phase_ = p;
  phase_start_ns_ = now_ns();
  // A marker line a runner can act on (e.g. sample the server's CPU) the moment it appears.
  std::fprintf(stderr, "#phase %s\n", phase_name(p));
  std::fflush(stderr);
}

void Generator::maybe_progress() {
  uint64_t now = now_ns();
  if (now < next_tick_ns_) return;
  uint64_t cpu = cpu_us();
  if (next_tick_ns_ != 0 && opts_.progress) {
    double secs = double(now - tick_start_ns_) / 1e9;
    double busy = 100.0 * double(cpu - tick_cpu_) / (secs * 1e6);
    std::fprintf(stderr,
                 "%-9s %5.0fs  open %zu ready %zu failed %zu  deliveries %.0f/s  p50 %.0fus "
                 "p99 %.0fus  lost %llu dup %llu reord %llu  loadgen cpu %.0f%%\n",
                 phase_name(phase_), double(now - phase_start_ns_) / 1e9, open_, ready_, failed_,
                 double(stats_.deliveries_tick) / secs, us(stats_.latency_tick.percentile(0.5)),
                 us(stats_.latency_tick.percentile(0.99)), (unsigned long long)stats_.gaps,
                 (unsigned long long)stats_.duplicates, (unsigned long long)stats_.reordered, busy);
  }
  stats_.deliveries_tick = 0;
  stats_.latency_tick.reset();
  tick_start_ns_ = now;
  tick_cpu_ = cpu;
  next_tick_ns_ = now + 1000000000ull;
  if (opts_.mode == Mode::Closed) expire_publishes();
}

bool Generator::run() {
  if (!setup_epoll()) {
    error_ = "epoll_create1 failed";
    return false;
  }
  if (opts_.mode != Mode::Idle && opts_.subscribers < opts_.topics) {
    error_ = "need at least one subscriber per topic (--subscribers >= --topics)";
    return false;
  }
  if (!connect_phase() || !subscribe_phase()) return false;
  if (g_stop) {
    error_ = "interrupted before any load";
    return false;
  }
  bool ok = opts_.mode == Mode::Idle ? hold_phase() : load_phases();
  enter(Phase::Done);
  return ok;
}

bool Generator::hold_phase() {
  enter(Phase::Hold);
  uint64_t end = phase_start_ns_ + seconds_to_ns(opts_.hold);
  while (now_ns() < end && !g_stop) {
    poll_once(10000000);
    maybe_progress();
  }
  held_ = ready_;
  return true;
}

bool Generator::load_phases() {
  publishing_ = true;
  enter(Phase::Warmup);
  load_start_ns_ = now_ns();
  for (Phase p : {Phase::Warmup, Phase::Measure}) {
    if (p == Phase::Measure) {
      enter(Phase::Measure);
      window_start_ns_ = phase_start_ns_;
      window_cpu_start_ = cpu_us();
      if (opts_.server_pid) server_cpu_start_ = process_cpu_seconds(opts_.server_pid);
    }
    uint64_t end = phase_start_ns_ + seconds_to_ns(p == Phase::Warmup ? opts_.warmup : opts_.duration);
    while (now_ns() < end && !g_stop) {
      refill_closed_loop();
      pace_open_loop();
      poll_once(kIdlePollNs);
      maybe_progress();
      if (failed_ > 0) {
        error_ = std::to_string(failed_) + " connections lost under load (first: " + first_failure_ + ")";
        return false;
      }
    }
  }
  publishing_ = false;
  window_end_ns_ = now_ns();
  window_cpu_end_ = cpu_us();
  if (opts_.server_pid) server_cpu_end_ = process_cpu_seconds(opts_.server_pid);
  enter(Phase::Drain);
  uint64_t end = phase_start_ns_ + seconds_to_ns(opts_.drain_timeout);
  while (!drained() && now_ns() < end && g_stop < 2) {
    poll_once(kIdlePollNs);
    maybe_progress();
  }
  drain_complete_ = drained();
  return true;
}

}  // namespace loadgen
