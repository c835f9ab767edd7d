#include "binding/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ringcast::binding {

// mallinfo2 (glibc 2.33) has size_t fields; the older mallinfo's ints wrap past 2 GiB.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define RINGCAST_HAVE_MALLINFO2 1
#endif

Napi::Value AllocatorStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if defined(RINGCAST_HAVE_MALLINFO2)
  struct mallinfo2 mi = mallinfo2();
  Napi::Object o = Napi::Object::New(env);
  // uordblks: chunks in use in the arenas; hblkhd: chunks of their own mapping (large
  // allocations), in use by definition; fordblks: free chunks the arenas keep.
  o.Set("inUse", Napi::Number::New(env, static_cast<double>(mi.uordblks)));
  o.Set("mapped", Napi::Number::New(env, static_cast<double>(mi.hblkhd)));
  o.Set("free", Napi::Number::New(env, static_cast<double>(mi.fordblks)));
  return o;
#else
  return env.Undefined();
#endif
}

namespace {

// malloc_trim(0) on a thread of libuv's pool: the kernel releases each free range separately,
// which takes tens to hundreds of milliseconds when there are many, and the event loop must not
// wait for it. glibc locks one arena at a time while it walks it; a thread that allocates from
// that arena meanwhile waits, the others do not.
class TrimWork : public Napi::AsyncWorker {
 public:
  explicit TrimWork(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
#if defined(__GLIBC__)
    released_ = malloc_trim(0) != 0;
#endif
  }
  void OnOK() override { deferred_.Resolve(Napi::Boolean::New(Env(), released_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  bool released_ = false;
};

}  // namespace

Napi::Value AllocatorTrim(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if defined(__GLIBC__)
  auto* work = new TrimWork(env);  // deleted by node-addon-api once OnOK/OnError ran
  Napi::Promise promise = work->Promise();
  work->Queue();
  return promise;
#else
  return env.Undefined();
#endif
}

Napi::Value AllocatorPinMmapThreshold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double bytes = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  // glibc takes at most HEAP_MAX_SIZE / 2 (32 MiB on 64-bit); 4 KiB is below any sane use
  if (!(bytes >= 4096 && bytes <= 32 * 1024 * 1024)) {
    Napi::RangeError::New(env, "allocatorPinMmapThreshold(bytes): bytes must be 4096..33554432")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
#if defined(__GLIBC__)
  // setting it also turns off the dynamic raise (mp_.no_dyn_threshold)
  return Napi::Boolean::New(env, mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes)) == 1);
#else
  return env.Undefined();
#endif
}

}  // namespace ringcast::binding
