// Ring and buffer-ring sizes come from RLIMIT_MEMLOCK for a non-root user. Run as uid 65534 in a
// child (the test itself may run as root, which the limit does not bind): the default config
// must come up inside the 8 MiB budget, and a tiny budget must shrink, not fail.
#include <sys/resource.h>
#include <sys/wait.h>

#include "engine_test.h"

using namespace ringcast;
using namespace enginetest;

namespace {

constexpr uid_t kNobody = 65534;

// In the child: 0 when the engine came up with a sizing inside the budget.
int child_engine_fits(rlim_t memlock) {
  rlimit rl = {memlock, memlock};
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 10;
  if (geteuid() == 0 && (setgid(kNobody) != 0 || setuid(kNobody) != 0)) return 11;
  Engine e;
  EngineConfig cfg;  // the defaults the server starts with
  int r = e.init(cfg);
  std::printf("uid %u memlock %lu KiB: init %d, %s\n", static_cast<unsigned>(geteuid()),
              static_cast<unsigned long>(memlock / 1024), r, e.sizing().describe().c_str());
  if (r < 0) return 12;
  if (e.sizing().unlimited) return 13;
  if (e.sizing().pinned_bytes > memlock) return 14;
  int port = e.listen("127.0.0.1", 0);
  return port > 0 ? 0 : 15;
}

int run_in_child(rlim_t memlock) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit(child_engine_fits(memlock));
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// The budget is per user, and the kernel releases an exited process's rings asynchronously
// (DESIGN.md): right after the previous child, or on a machine busy enough to delay that work
// (seen once after the container test), init can still meet ENOMEM past the engine's own 50 ms
// retry. Wait for the release, bounded, instead of racing it; any other failure is final.
int run_in_child_settled(rlim_t memlock) {
  int r = run_in_child(memlock);
  for (int i = 0; i < 10 && r == 12; i++) {
    usleep(200 * 1000);
    r = run_in_child(memlock);
  }
  return r;
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  CHECK_EQ(run_in_child_settled(8u << 20), 0);    // the default per-user budget
  CHECK_EQ(run_in_child_settled(256u << 10), 0);  // a tight one: sizes step down
  return report();
}
