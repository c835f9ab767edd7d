// Every flag of ringcast-loadgen, with its default and unit, in one place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace loadgen {

enum class Mode { Closed, Open, Idle };
enum class SubscribeVia { Query, Op, Both };

struct Options {
  std::string url = "ws://127.0.0.1:8080/ws";
  std::string publish_url;  // publishers connect here when set (a publish crosses servers)
  Mode mode = Mode::Closed;
  size_t subscribers = 1000;
  size_t publishers = 1;
  size_t topics = 1;  // subscriber i listens on topic i % topics
  std::string topic_prefix = "bench";
  size_t size = 64;    // bytes of each publish's data value
  size_t window = 16;  // closed loop: publishes in flight per publisher
  double rate = 1000;  // open loop: publishes per second, all publishers together
  size_t batch = 1;    // publishes per write (both loops), so a server can gather
  SubscribeVia subscribe = SubscribeVia::Op;
  double connect_timeout = 60;  // seconds, every connection open and upgraded
  double subscribe_timeout = 30;
  double warmup = 2;                 // seconds of load before measuring
  double duration = 10;              // seconds measured
  double drain_timeout = 10;         // seconds to wait for in-flight deliveries after measuring
  double hold = 10;                  // idle mode: seconds to hold the connections
  double publish_timeout = 5;        // closed loop: a publish not fully delivered by then is given up
  size_t connect_concurrency = 256;  // handshakes in flight, so a listen backlog never overflows
  int source_ips = -1;               // 127.0.0.x sources to spread over; -1: 254 when loopback, else 0
  int server_pid = 0;                // when set: report that process's CPU over the window too
  bool progress = true;
  bool deflate = false;  // offer permessage-deflate (no context takeover) and inflate
  bool chat = false;     // --payload chat: data is chat-like JSON, not "xxx" padding         // a line per
                         // second on stderr
  bool help = false;
};

// Parses argv into opts; on error returns false with a one-line message naming the flag.
bool parse_options(int argc, char** argv, Options& opts, std::string& error);
const char* usage();
const char* mode_name(Mode m);
const char* subscribe_name(SubscribeVia s);

}  // namespace loadgen
