// The module registration: a list. The work is in ring_server.cc, probe.cc and fd.cc.
#include <napi.h>

#include "binding/fd.h"
#include "binding/probe.h"
#include "binding/ring_server.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, ringcast::binding::Probe, "probe"));
  exports.Set("dupFd", Napi::Function::New(env, ringcast::binding::DupFd, "dupFd"));
  exports.Set("closeFd", Napi::Function::New(env, ringcast::binding::CloseFd, "closeFd"));
  ringcast::binding::RingServer::Init(env, exports);
  return exports;
}

NODE_API_MODULE(ringcast, Init)
