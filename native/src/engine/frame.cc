#include "engine/frame.h"

#include <cstdlib>
#include <cstring>

namespace ringcast {

Frame* frame_alloc(FrameCounters* counters, size_t len) {
  if (len > UINT32_MAX) return nullptr;
  auto* f = static_cast<Frame*>(std::malloc(sizeof(Frame) + len));
  if (!f) return nullptr;
  f->refs = 1;
  f->len = static_cast<uint32_t>(len);
  f->counters = counters;
  counters->live++;
  counters->live_bytes += len;
  return f;
}

Frame* frame_copy(FrameCounters* counters, const void* bytes, size_t len) {
  Frame* f = frame_alloc(counters, len);
  if (f && len) std::memcpy(f->data(), bytes, len);
  return f;
}

void frame_unref(Frame* f) {
  if (--f->refs) return;
  f->counters->live--;
  f->counters->live_bytes -= f->len;
  std::free(f);
}

}  // namespace ringcast
