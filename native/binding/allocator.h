#pragma once
#include <napi.h>

namespace ringcast::binding {
// allocatorStats() -> { inUse, free, mapped } (bytes, every arena of the process) or undefined
// where the C library is not glibc: what the C allocator holds, live and free. The process's
// RSS includes the free part until the allocator gives it back.
Napi::Value AllocatorStats(const Napi::CallbackInfo& info);
// allocatorTrim() -> a promise of true when glibc returned memory to the kernel, false when it had
// none to return; undefined where the C library is not glibc. malloc_trim(0), on a thread of
// libuv's pool, walks every arena (worker threads' too) and releases the whole free pages inside
// them, not only the top of the heap.
Napi::Value AllocatorTrim(const Napi::CallbackInfo& info);
// allocatorPinMmapThreshold(bytes) -> true, or undefined where the C library is not glibc: every
// allocation of at least `bytes` gets a mapping of its own, returned to the kernel when freed.
// glibc otherwise raises that threshold to the size of each large block freed (up to 32 MiB), so
// after one 1 MiB message every later large frame is carved from an arena and stays in RSS.
Napi::Value AllocatorPinMmapThreshold(const Napi::CallbackInfo& info);
}  // namespace ringcast::binding
