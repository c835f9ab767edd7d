// The self-test passes on this host, and every failure it can meet becomes a reason and a fix;
// a real seccomp refusal (what Docker >= 25 does) is reported as such.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstddef>
#include <string>

#include "engine/self_test.h"
#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

void passes_on_this_host() {
  SelfTestResult r = uring_self_test();
  std::printf("%s\n", r.line().c_str());
  CHECK(r.ok());
  CHECK(has(r.features, "defer_taskrun"));
}

void failures_become_a_reason_and_a_fix() {
  HostFacts modern;
  modern.io_uring_disabled = 0;
  modern.kernel_major = 6;
  modern.kernel_minor = 18;
  CHECK(has(explain_failure(-EPERM, "setup", modern).reason, "seccomp"));
  CHECK(has(explain_failure(-EPERM, "setup", modern).fix, "config/seccomp-io_uring.json"));
  CHECK(has(explain_failure(-ENOSYS, "setup", modern).reason, "missing"));
  HostFacts filtered = modern;
  filtered.seccomp_filter = true;  // podman's default profile answers ENOSYS
  CHECK(has(explain_failure(-ENOSYS, "setup", filtered).reason, "seccomp"));
  CHECK(has(explain_failure(-ENOSYS, "setup", filtered).fix, "seccomp-io_uring.json"));
  CHECK(has(explain_failure(-ENOMEM, "setup", modern).reason, "RLIMIT_MEMLOCK"));
  CHECK(has(explain_failure(-ENOMEM, "setup", modern).fix, "memlock"));
  CHECK(has(explain_failure(-ETIMEDOUT, "recv", modern).reason, "at recv"));
  HostFacts disabled = modern;
  disabled.io_uring_disabled = 2;
  CHECK(has(explain_failure(-EPERM, "setup", disabled).reason, "io_uring_disabled=2"));
  disabled.io_uring_disabled = 1;
  CHECK(has(explain_failure(-EPERM, "setup", disabled).fix, "io_uring_group"));
  HostFacts old = modern;
  old.kernel_minor = 0;
  CHECK(has(explain_failure(-EINVAL, "setup", old).reason, "older than 6.1"));
  SelfTestResult r = explain_failure(-EPERM, "setup", modern);
  CHECK(!r.ok());
  CHECK(has(r.line(), "io_uring unavailable: "));
  CHECK(has(r.line(), "; fix: "));
}

// A child installs the filter Docker's default profile amounts to (io_uring_setup -> EPERM)
// and runs the self-test; its verdict comes back as the exit code.
void a_seccomp_refusal_is_named() {
  pid_t pid = fork();
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(3);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(3);
    SelfTestResult r = uring_self_test();
    std::printf("under seccomp: %s\n", r.line().c_str());
    std::fflush(stdout);
    _exit(r.err == -EPERM && has(r.reason, "seccomp") ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  passes_on_this_host();
  failures_become_a_reason_and_a_fix();
  a_seccomp_refusal_is_named();
  return report();
}
