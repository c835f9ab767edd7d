#pragma once
#include <napi.h>

namespace ringcast::binding {
// probe() -> { ok, line, reason, fix, step, errno, features }: the engine's loopback self-test.
Napi::Value Probe(const Napi::CallbackInfo& info);
}  // namespace ringcast::binding
