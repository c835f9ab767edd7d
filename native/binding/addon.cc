// The module registration: a list. The work is in ring_server.cc, probe.cc, fd.cc and allocator.cc.
#include <napi.h>

#include "binding/allocator.h"
#include "binding/fd.h"
#include "binding/probe.h"
#include "binding/ring_server.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, ringcast::binding::Probe, "probe"));
  exports.Set("dupFd", Napi::Function::New(env, ringcast::binding::DupFd, "dupFd"));
  exports.Set("closeFd", Napi::Function::New(env, ringcast::binding::CloseFd, "closeFd"));
  exports.Set("allocatorStats",
              Napi::Function::New(env, ringcast::binding::AllocatorStats, "allocatorStats"));
  exports.Set(
      "allocatorPinMmapThreshold",
      Napi::Function::New(env, ringcast::binding::AllocatorPinMmapThreshold, "allocatorPinMmapThreshold"));
  exports.Set("allocatorTrim", Napi::Function::New(env, ringcast::binding::AllocatorTrim, "allocatorTrim"));
  ringcast::binding::RingServer::Init(env, exports);
  return exports;
}

NODE_API_MODULE(ringcast, Init)
