// CPU time of another process from /proc/PID/stat (utime + stime, all its threads), so a
// standalone run against a local server can report server CPU per delivery like the runner.
#pragma once
#include <sys/types.h>

namespace loadgen {

// Seconds of CPU the process has used, or a negative value when it cannot be read.
double process_cpu_seconds(pid_t pid);

}  // namespace loadgen
