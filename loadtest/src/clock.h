// Monotonic time in nanoseconds and process CPU time in microseconds.
#pragma once
#include <sys/resource.h>
#include <time.h>
#include <cstdint>

namespace loadgen {

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// utime + stime of this process (all threads; there is one).
inline uint64_t cpu_us() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return uint64_t(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
         uint64_t(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

inline uint64_t seconds_to_ns(double s) { return uint64_t(s * 1e9); }

}  // namespace loadgen
