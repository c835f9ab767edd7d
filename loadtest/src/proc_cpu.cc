#include "proc_cpu.h"

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace loadgen {

double process_cpu_seconds(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // The command name is in parentheses and may hold spaces; fields count from after it.
  const char* p = std::strrchr(buf, ')');
  if (!p) return -1;
  p += 2;  // ") " then field 3 (state)
  for (int field = 3; field < 14 && *p; field++) {
    p = std::strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  char* end = nullptr;
  double utime = std::strtod(p, &end);
  double stime = std::strtod(end, nullptr);
  return (utime + stime) / double(sysconf(_SC_CLK_TCK));
}

}  // namespace loadgen
