// An outbound frame: bytes encoded once, shared by every connection it is queued on. One
// reference per queue entry and one per in-flight send that covers it (a zero-copy send keeps
// its reference until the kernel's notification CQE says the pages are no longer used).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast {

struct FrameCounters {
  uint64_t live = 0;        // frames allocated and not yet freed
  uint64_t live_bytes = 0;  // their payload bytes
};

struct Frame {
  uint32_t refs;
  uint32_t len;
  FrameCounters* counters;
  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this + 1); }
};

// A frame of `len` writable bytes with one reference (the caller's), or nullptr.
Frame* frame_alloc(FrameCounters* counters, size_t len);
// frame_alloc + memcpy.
Frame* frame_copy(FrameCounters* counters, const void* bytes, size_t len);

inline Frame* frame_ref(Frame* f) {
  f->refs++;
  return f;
}
void frame_unref(Frame* f);

}  // namespace ringcast
