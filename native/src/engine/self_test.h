// Can io_uring serve here? A short self-test on a loopback pair, run before the server commits
// to the uring transport. On failure: one reason and one fix, for the single log line the
// server prints before falling back to the ws transport.
#pragma once

#include <string>

namespace ringcast {

struct SelfTestResult {
  int err = 0;            // 0 = usable, else the -errno that stopped it
  const char* step = "";  // "sysctl", "kernel", "setup", "listen", "accept", "recv", "send"
  std::string reason;
  std::string fix;
  std::string features;  // Features::names() when the ring came up
  bool ok() const { return err == 0; }
  std::string line() const;  // "io_uring unavailable: <reason>; fix: <fix>" or "io_uring ok: ..."
};

// What the host says before we try: /proc/sys/kernel/io_uring_disabled (6.6; -1 when absent)
// and the kernel version.
struct HostFacts {
  int io_uring_disabled = -1;
  int kernel_major = 0;
  int kernel_minor = 0;
  bool seccomp_filter = false;  // /proc/self/status "Seccomp: 2": a filter is installed
};
HostFacts read_host_facts();

// Turns a failure into words. Pure, so every branch has a table test.
SelfTestResult explain_failure(int err, const char* step, const HostFacts& host);

// Creates a small engine, accepts a loopback client, receives and sends a few bytes.
SelfTestResult uring_self_test();

// A blocking TCP socket connected to 127.0.0.1:port, or -errno. The self-test's client, and the
// one the engine's tests and benchmarks connect with.
int connect_loopback(int port);

}  // namespace ringcast
