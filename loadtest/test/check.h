// A dozen lines of test harness: TEST registers a case, CHECK records a failure and goes on.
#pragma once
#include <cstdio>
#include <vector>

namespace check {

struct Case { const char* name; void (*fn)(); };
inline std::vector<Case>& cases() { static std::vector<Case> all; return all; }
inline int& failures() { static int n = 0; return n; }
struct Register { Register(const char* name, void (*fn)()) { cases().push_back({name, fn}); } };

}  // namespace check

#define TEST(name)                                              \
  static void name();                                           \
  static check::Register register_##name(#name, name);          \
  static void name()

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                   \
      check::failures()++;                                                            \
    }                                                                                 \
  } while (0)
