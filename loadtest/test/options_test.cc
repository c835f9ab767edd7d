#include <string>
#include <vector>

#include "check.h"
#include "endpoint.h"
#include "options.h"
#include "proc_cpu.h"

#include <unistd.h>

using namespace loadgen;

static bool parse(std::vector<std::string> args, Options& o, std::string& err) {
  std::vector<char*> argv = {const_cast<char*>("loadgen")};
  for (auto& a : args) argv.push_back(&a[0]);
  return parse_options(int(argv.size()), argv.data(), o, err);
}

TEST(options_take_space_or_equals_separated_values) {
  Options o;
  std::string err;
  CHECK(parse({"--mode", "open", "--rate=400", "--batch", "8", "--subscribers=10000", "--subscribe", "both"}, o, err));
  CHECK(o.mode == Mode::Open && o.rate == 400 && o.batch == 8 && o.subscribers == 10000);
  CHECK(o.subscribe == SubscribeVia::Both);
  CHECK(o.publish_url.empty());
  CHECK(parse({"--url", "ws://127.0.0.1:1/ws", "--publish-url", "ws://127.0.0.1:2/ws"}, o, err));
  CHECK(o.url == "ws://127.0.0.1:1/ws" && o.publish_url == "ws://127.0.0.1:2/ws");
}

TEST(options_reject_bad_values_naming_the_flag) {
  Options o;
  std::string err;
  CHECK(!parse({"--mode", "fast"}, o, err) && err.find("--mode") != std::string::npos);
  CHECK(!parse({"--window", "0"}, o, err));
  CHECK(!parse({"--subscribers", "-3"}, o, err));
  CHECK(!parse({"--url", "http://x"}, o, err));
  CHECK(!parse({"--publish-url", "http://x"}, o, err));
  CHECK(!parse({"--source-ips", "255"}, o, err));
  CHECK(!parse({"--duration"}, o, err) && err.find("needs a value") != std::string::npos);
  CHECK(!parse({"--bogus", "1"}, o, err));
}

TEST(endpoint_splits_host_port_and_target_and_knows_loopback) {
  Endpoint ep;
  std::string err;
  CHECK(parse_endpoint("ws://127.0.0.1:9001/ws?token=abc", ep, err));
  CHECK(ep.host_port == "127.0.0.1:9001" && ep.target == "/ws?token=abc" && ep.loopback);
  CHECK(ntohs(ep.address.sin_port) == 9001);
  CHECK(parse_endpoint("ws://127.0.0.2", ep, err));
  CHECK(ep.target == "/" && ntohs(ep.address.sin_port) == 80);
  CHECK(!parse_endpoint("wss://127.0.0.1/ws", ep, err));
}

TEST(process_cpu_of_this_process_is_read_from_proc_and_grows) {
  double before = process_cpu_seconds(getpid());
  volatile uint64_t x = 0;
  for (uint64_t i = 0; i < 300000000ull; i++) x += i;  // ~0.1 s of CPU, beyond a 10 ms tick
  double later = process_cpu_seconds(getpid());
  CHECK(before >= 0 && later > before);
  CHECK(process_cpu_seconds(-1) < 0);
}
