#include "check.h"

int main() {
  int passed = 0, failed = 0;
  for (const auto& c : check::cases()) {
    int before = check::failures();
    c.fn();
    bool ok = check::failures() == before;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
    (ok ? passed : failed)++;
  }
  std::printf("loadgen: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
