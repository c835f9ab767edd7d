// The JSON summary printed on stdout at the end of a run; docs/loadtest.md lists the fields.
#include <cstdio>

#include "generator.h"

namespace loadgen {
namespace {

void json_string(const std::string& s) {
  std::putchar('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\')
      std::printf("\\%c", c);
    else if (c < 0x20)
      std::printf("\\u%04x", c);
    else
      std::putchar(c);
  }
  std::putchar('"');
}

void field(const char* name, double v, bool comma = true) {
  std::printf("\"%s\":%.3f%s", name, v, comma ? "," : "");
}

void field(const char* name, unsigned long long v, bool comma = true) {
  std::printf("\"%s\":%llu%s", name, v, comma ? "," : "");
}

}  // namespace

void Generator::print_human_summary() const {
  const Histogram& h = stats_.latency;
  double window_s = double(window_end_ns_ - window_start_ns_) / 1e9;
  double cpu_s = double(window_cpu_end_ - window_cpu_start_) / 1e6;
  if (opts_.mode == Mode::Idle) {
    std::fprintf(stderr, "summary: held %zu of %zu connections (%zu failed%s%s)\n", held_, conns_.size(),
                 failed_, failed_ ? ", first: " : "", first_failure_.c_str());
    return;
  }
  std::fprintf(stderr,
               "summary: %.0f deliveries/s over %.1f s (%llu publishes), latency p50 %.0f us p99 %.0f us "
               "p99.9 %.0f us max %.0f us; lost %llu dup %llu reordered %llu%s; loadgen %.0f%% busy%s\n",
               window_s > 0 ? double(stats_.deliveries_window) / window_s : 0, window_s,
               (unsigned long long)stats_.publishes_window, double(h.percentile(0.5)) / 1e3,
               double(h.percentile(0.99)) / 1e3, double(h.percentile(0.999)) / 1e3, double(h.max()) / 1e3,
               (unsigned long long)final_lost(), (unsigned long long)stats_.duplicates,
               (unsigned long long)stats_.reordered,
               drain_complete_ ? "" : " (drain timed out: lost includes the backlog)",
               window_s > 0 ? 100.0 * cpu_s / window_s : 0,
               window_s > 0 && cpu_s / window_s > 0.9 ? " -- LIMITED BY THE INSTRUMENT" : "");
  if (server_cpu_start_ >= 0 && server_cpu_end_ >= 0 && stats_.deliveries_window) {
    double server_s = server_cpu_end_ - server_cpu_start_;
    std::fprintf(stderr, "server (pid %d): %.0f%% busy, %.3f us CPU per delivery\n", opts_.server_pid,
                 100.0 * server_s / window_s, server_s * 1e6 / double(stats_.deliveries_window));
  }
}

void Generator::print_summary(bool ok) const {
  using ull = unsigned long long;
  double window_s = double(window_end_ns_ - window_start_ns_) / 1e9;
  double cpu_s = double(window_cpu_end_ - window_cpu_start_) / 1e6;
  const Histogram& h = stats_.latency;
  std::printf("{\"ok\":%s,\"error\":", ok ? "true" : "false");
  if (ok)
    std::printf("null");
  else
    json_string(error_);
  std::printf(",\"url\":");
  json_string(opts_.url);
  if (!opts_.publish_url.empty()) {
    std::printf(",\"publish_url\":");
    json_string(opts_.publish_url);
  }
  std::printf(",\"mode\":\"%s\",\"subscribe\":\"%s\",", mode_name(opts_.mode),
              subscribe_name(opts_.subscribe));
  field("subscribers", ull(opts_.subscribers));
  field("publishers", ull(opts_.mode == Mode::Idle ? 0 : opts_.publishers));
  field("topics", ull(opts_.topics));
  field("data_bytes", ull(messages_.empty() ? 0 : messages_[0].data_bytes()));
  field("window", ull(opts_.window));
  field("rate", opts_.rate);
  field("batch", ull(opts_.batch));
  field("source_ips", ull(source_ips_));
  field("connections_open", ull(open_));
  field("connections_failed", ull(failed_));
  std::printf("\"first_failure\":");
  json_string(first_failure_);
  std::printf(",");
  field("held", ull(held_));
  field("closed_by_server", ull(stats_.closed_by_server));
  field("connect_s", double(connect_ns_) / 1e9);
  field("subscribe_s", double(subscribe_ns_) / 1e9);
  field("window_s", window_s);
  field("publishes", ull(stats_.publishes_window));
  field("publishes_per_s", window_s > 0 ? double(stats_.publishes_window) / window_s : 0);
  field("publishes_total", ull(stats_.publishes));
  field("publish_timeouts", ull(stats_.publish_timeouts));
  field("publish_backlogged", ull(stats_.publish_backlogged));
  field("acks", ull(stats_.acks));
  field("errors", ull(stats_.errors));
  std::printf("\"first_error\":");
  json_string(stats_.first_error);
  std::printf(",");
  field("deliveries", ull(stats_.deliveries_window));
  field("deliveries_per_s", window_s > 0 ? double(stats_.deliveries_window) / window_s : 0);
  field("deliveries_total", ull(stats_.deliveries));
  field("expected_total", ull(expected_deliveries()));
  std::printf("\"drain_complete\":%s,", drain_complete_ ? "true" : "false");
  field("lost", ull(opts_.mode == Mode::Idle ? 0 : final_lost()));
  field("duplicated", ull(stats_.duplicates));
  field("reordered", ull(stats_.reordered));
  field("unexpected", ull(stats_.unexpected));
  field("unstamped", ull(stats_.unstamped));
  field("bytes_in", ull(stats_.bytes_in));
  field("compressed_messages", ull(stats_.compressed));
  std::printf("\"latency_us\":{");
  field("count", ull(h.count()));
  field("mean", h.mean() / 1e3);
  field("p50", double(h.percentile(0.5)) / 1e3);
  field("p90", double(h.percentile(0.9)) / 1e3);
  field("p99", double(h.percentile(0.99)) / 1e3);
  field("p999", double(h.percentile(0.999)) / 1e3);
  field("max", double(h.max()) / 1e3, false);
  std::printf("},");
  if (server_cpu_start_ >= 0 && server_cpu_end_ >= 0) {
    double server_s = server_cpu_end_ - server_cpu_start_;
    field("server_cpu_s", server_s);
    field("server_busy_pct", window_s > 0 ? 100.0 * server_s / window_s : 0);
    field("server_cpu_us_per_delivery",
          stats_.deliveries_window ? server_s * 1e6 / double(stats_.deliveries_window) : 0);
  }
  field("loadgen_cpu_s", cpu_s);
  field("loadgen_busy_pct", window_s > 0 ? 100.0 * cpu_s / window_s : 0, false);
  std::printf("}\n");
  std::fflush(stdout);
}

}  // namespace loadgen
