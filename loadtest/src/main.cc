// ringcast-loadgen: WebSocket fanout load against any protocol v1 server. See docs/loadtest.md.
#include <sys/resource.h>
#include <csignal>
#include <cstdio>

#include "endpoint.h"
#include "generator.h"
#include "options.h"

using namespace loadgen;

namespace {

// Each connection is a file descriptor: take the hard limit, and refuse early when even that
// cannot hold the run (a failure at connection 19,990 after a minute helps nobody).
bool raise_fd_limit(size_t needed, std::string& error) {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (needed + 16 > rl.rlim_cur) {
    error = "need " + std::to_string(needed + 16) + " file descriptors, RLIMIT_NOFILE is " +
            std::to_string(rl.rlim_cur);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  std::string error;
  if (!parse_options(argc, argv, opts, error)) {
    std::fprintf(stderr, "ringcast-loadgen: %s\n%s", error.c_str(), usage());
    return 2;
  }
  if (opts.help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, [](int) { Generator::request_stop(); });
  std::signal(SIGTERM, [](int) { Generator::request_stop(); });
  Endpoint ep, pub_ep;
  size_t conns = opts.subscribers + (opts.mode == Mode::Idle ? 0 : opts.publishers);
  if (!parse_endpoint(opts.url, ep, error) ||
      !parse_endpoint(opts.publish_url.empty() ? opts.url : opts.publish_url, pub_ep, error) ||
      !raise_fd_limit(conns, error)) {
    std::fprintf(stderr, "ringcast-loadgen: %s\n", error.c_str());
    return 2;
  }
  Generator gen(opts, ep, pub_ep);
  bool ok = gen.run();
  if (!ok)
    std::fprintf(stderr, "ringcast-loadgen: %s\n", gen.error().c_str());
  else
    gen.print_human_summary();
  gen.print_summary(ok);
  return ok ? 0 : 1;
}
