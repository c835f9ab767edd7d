#include "binding/ring_server.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ringcast::binding {
namespace {

// The batch handed to JavaScript: one record of kRecordSlots values per event, flattened into
// one array (no object per event): [kind, conn, a, b], kind a WsEventType number. What a and b
// hold depends on the kind; server/transport/native.ts reads them only through named helpers:
//   kRequest   a: 1 for a WebSocket upgrade, 0 for plain HTTP   b: the request object
//   kMessage   a: kMessageBinary | kMessageCompressed bits      b: Buffer, the whole message
//   kClosed    a: close code (1006 when the connection just ended)
//   kDrain, kOverflow (close 1013 was queued: the connection passed its outbound limit)
//   kRefused   a: HTTP status answered natively                  b: 1 for an upgrade
constexpr uint32_t kRecordSlots = 4;

// Bits of `a` in a kMessage record.
constexpr uint32_t kMessageBinary = 1;
constexpr uint32_t kMessageCompressed = 2;  // permessage-deflate: b is the deflated payload

// The kinds JavaScript sees: every WsEventType but kOwnWrite, which never leaves the binding.
constexpr WsEventType kBatchEvents[] = {WsEventType::kRequest, WsEventType::kMessage,  WsEventType::kClosed,
                                        WsEventType::kDrain,   WsEventType::kOverflow, WsEventType::kRefused};

// eventKinds: {name: number}, recordSlots, messageBits: the batch layout, for native.ts's check.
Napi::Object BatchLayoutToJs(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  Napi::Object kinds = Napi::Object::New(env);
  for (WsEventType t : kBatchEvents) kinds.Set(event_name(t), static_cast<uint32_t>(t));
  layout.Set("eventKinds", kinds);
  layout.Set("recordSlots", kRecordSlots);
  Napi::Object bits = Napi::Object::New(env);
  bits.Set("binary", kMessageBinary);
  bits.Set("compressed", kMessageCompressed);
  layout.Set("messageBits", bits);
  return layout;
}

// statsTable: [{key, kind, metric, help}], one row per field of stats(): what server/metrics.ts
// registers on /metrics.
Napi::Array StatsTableToJs(Napi::Env env) {
  Napi::Array table = Napi::Array::New(env);
  uint32_t i = 0;
  auto row = [&](const char* key, StatKind kind, const char* metric, const char* help) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("key", key);
    r.Set("kind", kind == StatKind::kCounter ? "counter" : "gauge");
    r.Set("metric", metric);
    r.Set("help", help);
    table.Set(i++, r);
  };
#define RINGCAST_STAT_ROW(field, key, kind, metric, help) row(#key, StatKind::kind, metric, help);
  RINGCAST_STATS(RINGCAST_STAT_ROW)
#undef RINGCAST_STAT_ROW
  return table;
}

// The options of new RingServer(options), every one required: config/defaults.ts holds every
// default (the C++ defaults are for tests, fuzzers and benchmarks), and a key this list reads
// but the caller forgot is a TypeError naming it, never a silent fallback. `min` is 0 but for
// workers and sqpollAttach, which are not config keys (server/transport/native.ts
// nativeOptions() adds them): the rings of the process, and the ring fd whose SQ thread to share.
struct Option {
  const char* key;
  void (*set)(EngineConfig& engine, WsConfig& ws, double value);
  double min = 0;
};
constexpr Option kOptions[] = {
    {"maxPayload",
     [](EngineConfig&, WsConfig& w, double v) {
       w.http.max_body_bytes = static_cast<uint64_t>(v);
       w.frames.max_message_bytes = static_cast<uint64_t>(v);
     }},
    {"maxOutbound", [](EngineConfig& e, WsConfig&, double v) { e.max_outbound = static_cast<uint64_t>(v); }},
    {"maxHeadBytes",
     [](EngineConfig&, WsConfig& w, double v) { w.http.max_head_bytes = static_cast<size_t>(v); }},
    {"maxHeaders", [](EngineConfig&, WsConfig& w, double v) { w.http.max_headers = static_cast<size_t>(v); }},
    {"closeTimeout",
     [](EngineConfig& e, WsConfig&, double v) { e.close_timeout_ms = static_cast<uint32_t>(v); }},
    {"ringSlots", [](EngineConfig& e, WsConfig&, double v) { e.max_slots = static_cast<uint32_t>(v); }},
    {"sqEntries", [](EngineConfig& e, WsConfig&, double v) { e.sq_entries = static_cast<uint32_t>(v); }},
    {"cqEntries", [](EngineConfig& e, WsConfig&, double v) { e.cq_entries = static_cast<uint32_t>(v); }},
    {"recvBuffers", [](EngineConfig& e, WsConfig&, double v) { e.recv_buffers = static_cast<uint32_t>(v); }},
    {"recvBufferSize",
     [](EngineConfig& e, WsConfig&, double v) { e.recv_buffer_size = static_cast<uint32_t>(v); }},
    {"zeroCopyThreshold",
     [](EngineConfig& e, WsConfig&, double v) { e.zc_threshold = static_cast<uint32_t>(v); }},
    {"acceptBackoff",
     [](EngineConfig& e, WsConfig&, double v) { e.accept_backoff_ms = static_cast<uint32_t>(v); }},
    {"listenBacklog", [](EngineConfig& e, WsConfig&, double v) { e.backlog = static_cast<int>(v); }},
    {"drainMark", [](EngineConfig& e, WsConfig&, double v) { e.drain_mark = static_cast<uint64_t>(v); }},
    // each ring sizes itself to 1/workers of RLIMIT_MEMLOCK (native/src/engine/memlock.cc)
    {"workers", [](EngineConfig& e, WsConfig&, double v) { e.workers = static_cast<uint32_t>(v); }, 1},
    // SQPOLL idle time in ms (0 = off); with it, another ring's fd (ringFd()) to share its SQ
    // thread, or -1 (docs/engine.md, "SQPOLL")
    {"sqpoll", [](EngineConfig& e, WsConfig&, double v) { e.sqpoll_idle_ms = static_cast<uint32_t>(v); }},
    {"sqpollAttach", [](EngineConfig& e, WsConfig&, double v) { e.sqpoll_attach_fd = static_cast<int>(v); },
     -1},
};

// Fills both configs from options; false with a TypeError pending when a key is missing or
// not a number of at least its minimum.
bool ReadOptions(Napi::Env env, const Napi::Object& o, EngineConfig* engine, WsConfig* ws) {
  for (const Option& opt : kOptions) {
    Napi::Value v = o.Get(opt.key);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= opt.min)) {
      const std::string want = opt.min != 0
                                   ? " must be a number >= " + std::to_string(static_cast<int>(opt.min))
                                   : std::string(" must be a non-negative number");
      Napi::TypeError::New(env, std::string("RingServer options: ") + opt.key +
                                    (v.IsUndefined() ? " is missing" : want) +
                                    " (config/defaults.ts has every key)")
          .ThrowAsJavaScriptException();
      return false;
    }
    opt.set(*engine, *ws, d);
  }
  return true;
}

Napi::Value Status(Napi::Env env, int r) { return Napi::Number::New(env, r); }

// Whether JavaScript may run in env. A terminated worker's environment runs its loop once more
// to close handles (node::Environment::CleanupHandles) before any finalizer: the eventfd can
// fire there, where every call into JS fails, and node-addon-api makes the first failure a fatal
// error. Node-API has no question for it before version 10 (napi_cannot_run_js), but every call
// with Node's NAPI_PREAMBLE answers napi_pending_exception then: napi_strict_equals is the
// cheapest (needs an open handle scope).
bool JsCanRun(napi_env env) {
  napi_value undefined;
  bool same = false;
  return napi_get_undefined(env, &undefined) == napi_ok &&
         napi_strict_equals(env, undefined, undefined, &same) == napi_ok;
}

// strerror() may return a buffer shared by every thread, and each worker thread of --workers runs
// its own RingServer. strerror_r is the GNU one (char*, maybe not buf) under g++'s _GNU_SOURCE,
// the POSIX one (int) elsewhere: the overloads take either.
[[maybe_unused]] const char* ErrorText(int result, const char* buf) {
  return result == 0 ? buf : "unknown error";
}
[[maybe_unused]] const char* ErrorText(const char* result, const char*) { return result; }
std::string Strerror(int err) {
  char buf[128] = "";
  return ErrorText(strerror_r(err, buf, sizeof buf), buf);
}

Napi::Object RequestToJs(Napi::Env env, const http::HttpRequestHead& head, const WsEvent& ev,
                         const std::string& remote) {
  Napi::Object req = Napi::Object::New(env);
  req.Set("method", std::string(head.text(head.method_text)));
  req.Set("url", std::string(head.text(head.target)));
  Napi::Object headers = Napi::Object::New(env);
  for (const http::HttpField& f : head.fields) {
    std::string name(head.text(f.name));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    std::string value(head.text(f.value));
    // repeated fields join with ", " as RFC 7230 section 3.2.2 allows (Node does the same)
    Napi::Value prev = headers.Get(name);
    if (prev.IsString()) value = prev.As<Napi::String>().Utf8Value() + ", " + value;
    headers.Set(name, value);
  }
  req.Set("headers", headers);
  req.Set("keepAlive", head.keep_alive);
  req.Set("remoteAddress", remote);
  req.Set("body",
          Napi::Buffer<uint8_t>::Copy(env, ev.data ? ev.data : reinterpret_cast<const uint8_t*>(""), ev.len));
  return req;
}

}  // namespace

void RingServer::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "RingServer",
                                   {
                                       InstanceMethod("listen", &RingServer::Listen),
                                       InstanceMethod("adopt", &RingServer::Adopt),
                                       InstanceMethod("acceptUpgrade", &RingServer::AcceptUpgrade),
                                       InstanceMethod("respond", &RingServer::Respond),
                                       InstanceMethod("send", &RingServer::Send),
                                       InstanceMethod("fanout", &RingServer::Fanout),
                                       InstanceMethod("close", &RingServer::Close),
                                       InstanceMethod("abort", &RingServer::Abort),
                                       InstanceMethod("flush", &RingServer::Flush),
                                       InstanceMethod("runTimers", &RingServer::RunTimers),
                                       InstanceMethod("stopAccepting", &RingServer::StopAccepting),
                                       InstanceMethod("stats", &RingServer::Stats),
                                       InstanceMethod("ringInfo", &RingServer::RingInfo),
                                       InstanceMethod("ringFd", &RingServer::RingFd),
                                       InstanceMethod("destroy", &RingServer::Destroy),
                                   });
  cls.Set("batchLayout", BatchLayoutToJs(env));
  cls.Set("statsTable", StatsTableToJs(env));
  exports.Set("RingServer", cls);
}

// new RingServer(options, onEvents, onError?)
RingServer::RingServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingServer>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction() ||
      (info.Length() > 2 && !info[2].IsFunction() && !info[2].IsUndefined())) {
    destroyed_ = true;
    Napi::TypeError::New(env, "RingServer(options, onEvents, onError?)").ThrowAsJavaScriptException();
    return;
  }
  EngineConfig ec;
  WsConfig wc;
  if (!ReadOptions(env, info[0].As<Napi::Object>(), &ec, &wc)) {
    destroyed_ = true;
    return;
  }
  ec.defer_taskrun = false;  // woken by an eventfd from libuv: see EngineConfig::defer_taskrun
  int r = 0;
  ws_ = WsServer::open(ec, wc, &r);
  if (ws_ == nullptr) {
    destroyed_ = true;
    // With SQPOLL the kernel's refusal is most likely about it: say so (the caller falls back).
    const std::string what = ec.sqpoll_idle_ms == 0    ? std::string()
                             : ec.sqpoll_attach_fd < 0 ? std::string(" (with SQPOLL)")
                                                       : " (with SQPOLL attached to ring fd " +
                                                             std::to_string(ec.sqpoll_attach_fd) + ")";
    Napi::Error e = Napi::Error::New(env, "io_uring engine init failed" + what + ": " + Strerror(-r));
    e.Set("errno", Napi::Number::New(env, -r));
    e.ThrowAsJavaScriptException();
    return;
  }
  on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
  if (info.Length() > 2 && info[2].IsFunction()) on_error_ = Napi::Persistent(info[2].As<Napi::Function>());
  async_ = std::make_unique<Napi::AsyncContext>(env, "ringcast:uring");

  efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd_ < 0 || (r = ws_->register_eventfd(efd_)) < 0) {
    int err = efd_ < 0 ? errno : -r;
    Shutdown();
    Napi::Error::New(env, std::string("io_uring eventfd: ") + Strerror(err)).ThrowAsJavaScriptException();
    return;
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, efd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &RingServer::OnReadable);
}

RingServer::~RingServer() { Shutdown(); }

void RingServer::Shutdown() {
  if (destroyed_) return;
  destroyed_ = true;
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  ws_.reset();  // closes every connection and the ring now, not at garbage collection
  if (efd_ >= 0) close(efd_);
  efd_ = -1;
}

void RingServer::OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<RingServer*>(handle->data);
  if (status < 0 || self->destroyed_) return;
  uint64_t counter;
  while (read(self->efd_, &counter, sizeof counter) == sizeof counter) {
  }
  self->Turn();
}

// One turn: reap every completion, call JS with the batch (cut at the server's own writes),
// one submit.
void RingServer::Turn() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  ws_->poll(0);
  const std::vector<WsEvent>& events = ws_->events();
  size_t begin = 0;
  for (size_t i = 0; i < events.size() && !destroyed_; i++) {
    if (events[i].type != WsEventType::kOwnWrite) continue;
    CallJs(env, begin, i);
    if (destroyed_) return;
    ws_->perform(i);
    begin = i + 1;
  }
  if (!destroyed_) CallJs(env, begin, events.size());
  if (destroyed_) return;
  ws_->flush();
  WakeIfPending();
}

// Work left in the ring (more completions than one turn reaped, deferred task work the kernel
// did not run, input held for the next poll) gets no eventfd signal of its own: wake ourselves
// for another turn, after libuv has served the other handles.
void RingServer::WakeIfPending() {
  if (!ws_->turn_pending()) return;
  uint64_t one = 1;
  if (write(efd_, &one, sizeof one) < 0) {
    // the counter cannot overflow at one per turn; nothing else can fail on an eventfd
  }
}

// When JavaScript can no longer run (the environment is being torn down), the server shuts
// down here, as the finalizer would a moment later: the caller sees destroyed_.
void RingServer::CallJs(Napi::Env env, size_t begin, size_t end) {
  if (begin >= end) return;
  if (!JsCanRun(env)) {
    Shutdown();
    return;
  }
  Napi::Array batch = BatchToJs(env, begin, end);
  if (batch.Length() == 0) return;
  in_turn_ = true;
  on_events_.MakeCallback(Value(), {batch}, *async_);
  in_turn_ = false;
  TakeException(env);
}

// An exception left pending would fail every later N-API call of this turn and resurface
// later as an uncaught exception. It goes to onError; if there is none, or onError throws
// too, to the process as an uncaught exception (its handler decides).
void RingServer::TakeException(Napi::Env env) {
  if (!env.IsExceptionPending()) return;
  Napi::Error err = env.GetAndClearPendingException();
  if (!on_error_.IsEmpty()) {
    on_error_.MakeCallback(Value(), {err.Value()}, *async_);
    if (!env.IsExceptionPending()) return;
    err = env.GetAndClearPendingException();
  }
  napi_fatal_exception(env, err.Value());
}

Napi::Array RingServer::BatchToJs(Napi::Env env, size_t begin, size_t end) {
  const std::vector<WsEvent>& events = ws_->events();
  Napi::Array batch = Napi::Array::New(env);
  uint32_t i = 0;
  for (size_t k = begin; k < end; k++) {
    const WsEvent& ev = events[k];
    Napi::Value a = env.Undefined();
    Napi::Value b = env.Undefined();
    switch (ev.type) {
      case WsEventType::kRequest:
        a = Napi::Number::New(env, ev.upgrade ? 1 : 0);
        // The peer address costs a getpeername(2); only the upgrade policy reads it.
        b = RequestToJs(env, *ev.head, ev, ev.upgrade ? ws_->peer_address(ev.conn) : std::string());
        break;
      case WsEventType::kMessage:
        a = Napi::Number::New(env,
                              (ev.binary ? kMessageBinary : 0) | (ev.compressed ? kMessageCompressed : 0));
        b = Napi::Buffer<uint8_t>::Copy(env, ev.data, ev.len);
        break;
      case WsEventType::kClosed:
        a = Napi::Number::New(env, ev.code);
        break;
      case WsEventType::kDrain:
      case WsEventType::kOverflow:
        break;
      case WsEventType::kRefused:
        a = Napi::Number::New(env, ev.code);
        b = Napi::Number::New(env, ev.upgrade ? 1 : 0);
        break;
      case WsEventType::kOwnWrite:
        continue;  // the binding performs it between calls (Turn)
    }
    batch.Set(i++, Napi::Number::New(env, static_cast<uint32_t>(ev.type)));
    batch.Set(i++, Napi::Number::New(env, ev.conn));
    batch.Set(i++, a);
    batch.Set(i++, b);
  }
  return batch;
}

bool RingServer::Usable(const Napi::CallbackInfo& info, const char* method, std::initializer_list<Arg> args) {
  Napi::Env env = info.Env();
  if (destroyed_) {
    Napi::Error::New(env, std::string("RingServer.") + method + "(): the server was destroyed")
        .ThrowAsJavaScriptException();
    return false;
  }
  size_t i = 0;
  for (Arg want : args) {
    Napi::Value v = i < info.Length() ? info[i] : env.Undefined();
    bool ok = want == Arg::kAny || (want == Arg::kNumber && v.IsNumber()) ||
              (want == Arg::kString && v.IsString()) || (want == Arg::kBuffer && v.IsBuffer()) ||
              (want == Arg::kUint32Array && v.IsTypedArray() &&
               v.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array);
    if (!ok) {
      static const char* const kNames[] = {"a number", "a string", "a Buffer", "a Uint32Array", "any"};
      Napi::TypeError::New(env, std::string("RingServer.") + method + "(): argument " +
                                    std::to_string(i + 1) + " must be " + kNames[static_cast<int>(want)])
          .ThrowAsJavaScriptException();
      return false;
    }
    i++;
  }
  return true;
}

Napi::Value RingServer::Listen(const Napi::CallbackInfo& info) {
  if (!Usable(info, "listen", {Arg::kString, Arg::kNumber})) return info.Env().Undefined();
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int port = ws_->listen(host.c_str(), static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()));
  return Status(info.Env(), port);
}

// adopt(fd) -> ConnId or -errno (Engine::adopt lists them). The fd is ours from the call on,
// whatever the answer: after destroy() it is closed and -ESHUTDOWN returned instead of the throw
// of every other method, so an acceptor racing a worker's teardown leaks nothing and needs no
// try. The receive is submitted now (outside a turn), so the first bytes wake the loop.
Napi::Value RingServer::Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "RingServer.adopt(): argument 1 must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (destroyed_) {
    if (fd >= 0) close(fd);
    return Status(env, -ESHUTDOWN);
  }
  const int64_t id = ws_->adopt(fd);
  if (id >= 0 && !in_turn_) {
    ws_->flush();
    WakeIfPending();
  }
  return Napi::Number::New(env, static_cast<double>(id));
}

// acceptUpgrade(conn, extensions?: string): a non-empty `extensions` is the negotiated
// permessage-deflate answer (server/protocol/deflate.ts), sent as Sec-WebSocket-Extensions.
Napi::Value RingServer::AcceptUpgrade(const Napi::CallbackInfo& info) {
  if (!Usable(info, "acceptUpgrade", {Arg::kNumber})) return info.Env().Undefined();
  ConnId conn = info[0].As<Napi::Number>().Uint32Value();
  std::string ext =
      info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
  if (ext.find_first_of("\r\n") != std::string::npos) return Status(info.Env(), -EINVAL);
  const bool deflate = !ext.empty();
  std::string extra = deflate ? "Sec-WebSocket-Extensions: " + ext + "\r\n" : std::string();
  return Status(info.Env(), ws_->accept_upgrade(conn, extra, deflate));
}

Napi::Value RingServer::Respond(const Napi::CallbackInfo& info) {
  if (!Usable(info, "respond", {Arg::kNumber, Arg::kBuffer, Arg::kAny})) return info.Env().Undefined();
  Napi::Buffer<uint8_t> bytes = info[1].As<Napi::Buffer<uint8_t>>();
  return Status(info.Env(), ws_->respond(info[0].As<Napi::Number>().Uint32Value(), bytes.Data(),
                                         bytes.Length(), info[2].ToBoolean().Value()));
}

// The frame is a complete, pre-encoded WebSocket frame (header + payload) built once in TS.
Napi::Value RingServer::Send(const Napi::CallbackInfo& info) {
  if (!Usable(info, "send", {Arg::kNumber, Arg::kBuffer})) return info.Env().Undefined();
  Napi::Buffer<uint8_t> bytes = info[1].As<Napi::Buffer<uint8_t>>();
  return Status(info.Env(),
                ws_->send(info[0].As<Napi::Number>().Uint32Value(), bytes.Data(), bytes.Length()));
}

// fanout(ids: Uint32Array, frame: Buffer, exclude: number, compressed?: Buffer) -> receivers.
// ONE call per publish; WsServer::fanout says what happens to the frames.
Napi::Value RingServer::Fanout(const Napi::CallbackInfo& info) {
  if (!Usable(info, "fanout", {Arg::kUint32Array, Arg::kBuffer, Arg::kNumber})) return info.Env().Undefined();
  Napi::Uint32Array ids = info[0].As<Napi::Uint32Array>();
  Napi::Buffer<uint8_t> bytes = info[1].As<Napi::Buffer<uint8_t>>();
  int64_t exclude = info[2].As<Napi::Number>().Int64Value();
  size_t n;
  if (info.Length() > 3 && info[3].IsBuffer()) {
    Napi::Buffer<uint8_t> deflated = info[3].As<Napi::Buffer<uint8_t>>();
    n = ws_->fanout(ids.Data(), ids.ElementLength(), bytes.Data(), bytes.Length(), exclude, deflated.Data(),
                    deflated.Length());
  } else {
    n = ws_->fanout(ids.Data(), ids.ElementLength(), bytes.Data(), bytes.Length(), exclude);
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value RingServer::Close(const Napi::CallbackInfo& info) {
  if (!Usable(info, "close", {Arg::kNumber, Arg::kNumber, Arg::kString})) return info.Env().Undefined();
  std::string reason = info[2].As<Napi::String>().Utf8Value();
  return Status(info.Env(),
                ws_->close(info[0].As<Napi::Number>().Uint32Value(),
                           static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value()), reason));
}

Napi::Value RingServer::Abort(const Napi::CallbackInfo& info) {
  if (!Usable(info, "abort", {Arg::kNumber})) return info.Env().Undefined();
  return Status(info.Env(), ws_->abort(info[0].As<Napi::Number>().Uint32Value()));
}

Napi::Value RingServer::Flush(const Napi::CallbackInfo& info) {
  if (!Usable(info, "flush", {})) return info.Env().Undefined();
  if (in_turn_) return Status(info.Env(), 0);  // the turn flushes when JS returns
  int r = ws_->flush();
  WakeIfPending();  // e.g. frames behind an upgrade accepted just now
  return Status(info.Env(), r);
}

Napi::Value RingServer::RunTimers(const Napi::CallbackInfo& info) {
  if (!Usable(info, "runTimers", {Arg::kNumber, Arg::kAny})) return info.Env().Undefined();
  if (in_turn_) return Status(info.Env(), 0);
  // libuv runs timers before polling for I/O: a pong (or a request) may have completed in the
  // ring without its eventfd wake-up being served yet. Reap it first, or run_timers would judge
  // a live connection by stale state.
  Turn();
  if (destroyed_) return Status(info.Env(), 0);
  size_t dropped = ws_->run_timers(static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()),
                                   info[1].ToBoolean().Value());
  ws_->flush();
  return Napi::Number::New(info.Env(), static_cast<double>(dropped));
}

Napi::Value RingServer::StopAccepting(const Napi::CallbackInfo& info) {
  if (!Usable(info, "stopAccepting", {})) return info.Env().Undefined();
  ws_->stop_accepting();
  return info.Env().Undefined();
}

Napi::Value RingServer::Stats(const Napi::CallbackInfo& info) {
  if (!Usable(info, "stats", {})) return info.Env().Undefined();
  Napi::Env env = info.Env();
  const ringcast::Stats s = ws_->stats();
  Napi::Object o = Napi::Object::New(env);
#define RINGCAST_STAT_SET(field, key, kind, metric, help) \
  o.Set(#key, Napi::Number::New(env, static_cast<double>(s.field)));
  RINGCAST_STATS(RINGCAST_STAT_SET)
#undef RINGCAST_STAT_SET
  return o;
}

Napi::Value RingServer::RingInfo(const Napi::CallbackInfo& info) {
  if (!Usable(info, "ringInfo", {})) return info.Env().Undefined();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("features", ws_->features());
  o.Set("sizing", ws_->sizing());
  return o;
}

// The ring's fd, for the next worker's sqpollAttach: its ring then shares this ring's SQ thread.
Napi::Value RingServer::RingFd(const Napi::CallbackInfo& info) {
  if (!Usable(info, "ringFd", {})) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), ws_->ring_fd());
}

// Idempotent; called from the batch callback it takes effect when the callback returns.
Napi::Value RingServer::Destroy(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

}  // namespace ringcast::binding
