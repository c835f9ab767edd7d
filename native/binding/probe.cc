#include "binding/probe.h"

#include "session/ws_server.h"

namespace ringcast::binding {

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SelfTestResult r = WsServer::self_test();
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", r.ok());
  out.Set("line", r.line());
  out.Set("reason", r.reason);
  out.Set("fix", r.fix);
  out.Set("step", r.step);
  out.Set("errno", -r.err);
  out.Set("features", r.features);
  return out;
}

}  // namespace ringcast::binding
