// The load generator: one thread, one epoll set, N subscribers and P publishers. Phases run in
// order (connect, subscribe, then warmup/measure/drain or hold), each bounded by its timeout.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "connection.h"
#include "endpoint.h"
#include "inflater.h"
#include "options.h"
#include "publish_message.h"
#include "stats.h"

namespace loadgen {

enum class Phase { Connect, Subscribe, Warmup, Measure, Drain, Hold, Done };
const char* phase_name(Phase p);

class Generator {
 public:
  // pub_ep: where publishers connect (--publish-url; the same as ep without it).
  Generator(const Options& opts, const Endpoint& ep, const Endpoint& pub_ep);
  ~Generator();
  // Runs every phase; false with error() set when one failed or timed out.
  bool run();
  const std::string& error() const { return error_; }
  void print_summary(bool ok) const;
  void print_human_summary() const;
  // Set from a signal handler: end the current phase now and report what was measured.
  static void request_stop();
  static bool stop_requested();

  // Called by a Connection's frame sink.
  void on_text(Connection& c, const uint8_t* data, size_t len);
  void on_compressed_text(Connection& c, const uint8_t* data, size_t len);
  void on_close_frame(Connection& c, const uint8_t* data, size_t len);
  void on_ping(Connection& c, const uint8_t* data, size_t len);

 private:
  // generator_io.cc: sockets and the event loop
  bool setup_epoll();
  void poll_once(uint64_t timeout_ns);
  void handle_event(Connection& c, uint32_t events);
  void on_connected(Connection& c);
  void on_readable(Connection& c);
  void on_handshake_bytes(Connection& c, const uint8_t* data, size_t len);
  void flush(Connection& c);
  void update_interest(Connection& c);
  void fail(Connection& c, const std::string& why);
  void send_frame(Connection& c, Opcode op, const char* data, size_t len);

  // generator_setup.cc: connect and subscribe phases
  bool connect_phase();
  bool subscribe_phase();
  void open_more();
  void became_open(Connection& c);
  std::string request_target(const Connection& c) const;
  const Endpoint& endpoint_of(const Connection& c) const;

  // generator_load.cc: publishing
  void send_batch(Connection& pub, size_t count, uint64_t stamp_ns);
  void refill_closed_loop();
  void pace_open_loop();
  void on_delivery(Connection& c, uint64_t serial, uint64_t sent_ns);
  void expire_publishes();
  bool drained() const;
  uint64_t expected_deliveries() const;
  uint64_t final_lost() const;

  // generator_run.cc: phases and progress
  bool load_phases();
  bool hold_phase();
  void enter(Phase p);
  void maybe_progress();
  bool failed() const { return !error_.empty(); }

  struct Pending {
    uint32_t publisher;
    uint32_t remaining;  // deliveries still to arrive
    uint64_t sent_ns;
  };

  Options opts_;
  Endpoint ep_;
  Endpoint pub_ep_;
  int epfd_ = -1;
  int source_ips_ = 0;
  std::vector<std::unique_ptr<Connection>> conns_;  // subscribers first, then publishers
  std::vector<PublishMessage> messages_;            // one per topic
  std::vector<uint32_t> subscribers_on_;            // per topic
  std::vector<uint64_t> sent_on_;                   // publishes per topic
  std::unordered_map<uint64_t, Pending> pending_;   // closed loop, by publish number
  std::vector<uint8_t> read_buf_;
  Stats stats_;
  Inflater inflater_;              // --deflate on: shared by every connection
  std::vector<uint8_t> inflated_;  // the last inflated message (capacity kept)
  Phase phase_ = Phase::Connect;
  std::string error_;

  size_t next_to_open_ = 0, connecting_ = 0, open_ = 0, ready_ = 0, failed_ = 0;
  std::string first_failure_;
  uint64_t next_serial_ = 1;
  size_t next_publisher_ = 0;
  bool publishing_ = false;
  uint64_t t0_ns_ = 0;        // generator clock origin for stamps
  uint64_t read_now_ns_ = 0;  // time of the read being parsed
  uint64_t phase_start_ns_ = 0;
  uint64_t load_start_ns_ = 0, open_loop_sent_ = 0;
  uint64_t window_start_ns_ = 0, window_end_ns_ = 0;
  uint64_t window_cpu_start_ = 0, window_cpu_end_ = 0;
  double server_cpu_start_ = -1, server_cpu_end_ = -1;  // seconds, --server-pid
  uint64_t connect_ns_ = 0, subscribe_ns_ = 0;
  uint64_t next_tick_ns_ = 0, tick_start_ns_ = 0, tick_cpu_ = 0;
  size_t held_ = 0;
  bool drain_complete_ = false;
};

}  // namespace loadgen
