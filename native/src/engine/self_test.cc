#include "engine/self_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/engine.h"

namespace ringcast {

namespace {

constexpr int kMinMajor = 6, kMinMinor = 1;  // DEFER_TASKRUN, multishot recv, SENDMSG_ZC
constexpr int kStepTimeoutMs = 1000;

bool kernel_too_old(const HostFacts& h) {
  return h.kernel_major &&
         (h.kernel_major < kMinMajor || (h.kernel_major == kMinMajor && h.kernel_minor < kMinMinor));
}

SelfTestResult fail(int err, const char* step, const char* reason, const char* fix) {
  SelfTestResult r;
  r.err = err < 0 ? err : -EIO;
  r.step = step;
  r.reason = reason;
  r.fix = fix;
  return r;
}

// Polls until an event of `type` arrives; fills *out. -ETIMEDOUT after kStepTimeoutMs.
int wait_event(Engine& e, EventType type, Event* out) {
  for (int waited = 0; waited < kStepTimeoutMs; waited += 10) {
    int n = e.poll(10);
    if (n < 0) return n;
    for (const Event& ev : e.events()) {
      if (ev.type == type) {
        *out = ev;
        return 0;
      }
      if (ev.type == EventType::kClosed) return ev.status < 0 ? ev.status : -ECONNRESET;
    }
    e.flush();
  }
  return -ETIMEDOUT;
}

SelfTestResult loopback(Engine& e) {
  HostFacts host = read_host_facts();
  int port = e.listen("127.0.0.1", 0);
  if (port < 0) return explain_failure(port, "listen", host);
  int client = connect_loopback(port);
  if (client < 0) return explain_failure(client, "listen", host);
  timeval tv = {1, 0};  // a recv that never completes fails the test instead of hanging it
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SelfTestResult r;
  Event ev;
  int err = wait_event(e, EventType::kOpen, &ev);
  if (err == 0 && ::send(client, "ping", 4, MSG_NOSIGNAL) != 4) err = -errno;
  if (err < 0) r = explain_failure(err, "accept", host);
  if (err == 0) {
    err = wait_event(e, EventType::kData, &ev);
    if (err == 0 && (ev.len != 4 || std::memcmp(ev.data, "ping", 4) != 0)) err = -EIO;
    if (err < 0) r = explain_failure(err, "recv", host);
  }
  if (err == 0) {
    Frame* f = e.copy_frame("pong", 4);
    e.send(ev.conn, f);
    frame_unref(f);
    e.flush();
    char buf[4];
    ssize_t n = recv(client, buf, 4, MSG_WAITALL);
    if (n != 4 || std::memcmp(buf, "pong", 4) != 0) r = explain_failure(n < 0 ? -errno : -EIO, "send", host);
  }
  close(client);
  return r;
}

}  // namespace

HostFacts read_host_facts() {
  HostFacts h;
  if (FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r")) {
    if (std::fscanf(f, "%d", &h.io_uring_disabled) != 1) h.io_uring_disabled = -1;
    std::fclose(f);
  }
  kernel_version(&h.kernel_major, &h.kernel_minor);
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      int mode = 0;
      if (std::sscanf(line, "Seccomp: %d", &mode) == 1) {
        h.seccomp_filter = mode == 2;  // SECCOMP_MODE_FILTER
        break;
      }
    }
    std::fclose(f);
  }
  return h;
}

SelfTestResult explain_failure(int err, const char* step, const HostFacts& host) {
  if (host.io_uring_disabled == 2) {
    return fail(err, step, "io_uring is disabled on this host (kernel.io_uring_disabled=2)",
                "sysctl -w kernel.io_uring_disabled=0, or use --transport ws");
  }
  if (kernel_too_old(host)) {
    return fail(err, step, "kernel older than 6.1 (no DEFER_TASKRUN / multishot recv)",
                "run on Linux 6.1 or newer, or use --transport ws");
  }
  if (err == -EPERM && host.io_uring_disabled == 1) {
    return fail(err, step, "io_uring is limited to privileged users (kernel.io_uring_disabled=1)",
                "add the user to kernel.io_uring_group or sysctl -w kernel.io_uring_disabled=0");
  }
  if (err == -EPERM) {
    return fail(err, step, "a seccomp profile blocks io_uring (Docker >= 25 and containerd 2 defaults do)",
                "docker run --security-opt seccomp=config/seccomp-io_uring.json");
  }
  if (err == -ENOSYS && host.seccomp_filter && std::strcmp(step, "kernel") != 0) {
    // podman's default profile answers io_uring_setup with ENOSYS rather than EPERM
    return fail(err, step, "a seccomp profile blocks io_uring (podman's default answers ENOSYS)",
                "run with --security-opt seccomp=config/seccomp-io_uring.json");
  }
  if (err == -ENOSYS) {
    return fail(err, step,
                "io_uring syscalls are missing (kernel without CONFIG_IO_URING, or a "
                "sandbox such as gVisor)",
                "run on a kernel with io_uring, or use --transport ws");
  }
  if (err == -ENOMEM) {
    return fail(err, step, "RLIMIT_MEMLOCK is too small for the ring (8 MiB default per user)",
                "raise it (ulimit -l, docker run --ulimit memlock=-1:-1) or run fewer workers");
  }
  if (err == -EINVAL) {
    return fail(err, step, "the kernel rejected the ring setup (too old for the flags we need)",
                "run on Linux 6.1 or newer, or use --transport ws");
  }
  char reason[160];
  std::snprintf(reason, sizeof reason, "loopback self-test failed at %s: %s", step, std::strerror(-err));
  return fail(err, step, reason, "report this with the kernel version; use --transport ws meanwhile");
}

SelfTestResult uring_self_test() {
  HostFacts host = read_host_facts();
  if (host.io_uring_disabled == 2) return explain_failure(-EPERM, "sysctl", host);
  if (kernel_too_old(host)) return explain_failure(-ENOSYS, "kernel", host);
  EngineConfig cfg;
  cfg.max_slots = 4;
  cfg.sq_entries = 64;
  cfg.cq_entries = 256;
  cfg.recv_buffers = 8;
  cfg.recv_buffer_size = 4096;
  Engine e;
  int r = e.init(cfg);
  if (r < 0) return explain_failure(r, "setup", host);
  SelfTestResult result = loopback(e);
  result.features = e.features().names();
  return result;
}

std::string SelfTestResult::line() const {
  if (ok()) return "io_uring ok: " + features;
  return "io_uring unavailable: " + reason + "; fix: " + fix;
}

int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

}  // namespace ringcast
