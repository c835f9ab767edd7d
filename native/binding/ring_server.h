// The only class that joins the engine to Node. The ring lives on the JS thread: a uv_poll on
// an eventfd registered with the ring wakes the loop (docs/engine.md, "Waking the event loop":
// the eventfd wakes a sleeping loop, the ring fd does not); each wake reaps every completion,
// makes ONE call into JavaScript with the whole batch as plain data, then submits what
// JavaScript queued in ONE io_uring_enter.
//
// The batch is cut where the server writes a frame of its own (a pong, a Close): JavaScript
// gets the events before it, then the frame is queued, then the events after it, so the
// frame keeps its place among JavaScript's replies. What the callback throws is taken here
// and handed to onError (never left pending); every method after destroy() throws, but adopt(),
// which closes the fd it was given and returns -ESHUTDOWN. When the
// Node environment ends first (a worker thread that exits or is terminated), Node-API runs the
// object's finalizer at teardown, and the destructor shuts the server down: the ring, its
// connections and its listener do not outlive the thread (test/contract/worker-thread.test.ts).
// A wake-up that comes while the environment is torn down (JavaScript can no longer run) shuts
// the server down at once instead of calling JS (CallJs); one that comes while JS runs, when
// the termination interrupts the callback, finds the exception unthrowable: the build defines
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, so node-addon-api drops it instead of a fatal error
// (test/contract/adopt.test.ts terminates a worker under traffic).
#pragma once

#include <napi.h>
#include <uv.h>

#include <initializer_list>
#include <memory>
#include <vector>

#include "session/ws_server.h"

namespace ringcast::binding {

class RingServer : public Napi::ObjectWrap<RingServer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit RingServer(const Napi::CallbackInfo& info);
  ~RingServer() override;

 private:
  // JS methods. Ids are ConnIds (uint32: generation | slot).
  Napi::Value Listen(const Napi::CallbackInfo& info);         // (host, port) -> port
  Napi::Value Adopt(const Napi::CallbackInfo& info);          // (fd) -> conn or -errno
  Napi::Value AcceptUpgrade(const Napi::CallbackInfo& info);  // (conn, extensions?) -> status
  // (conn, Buffer, keepAlive) -> status: an answer to a request, or (keepAlive false) the
  // refusal of a pending upgrade
  Napi::Value Respond(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);       // (conn, frame Buffer) -> status
  Napi::Value Fanout(const Napi::CallbackInfo& info);     // (Uint32Array, frame, exclude, compressed?) -> n
  Napi::Value Close(const Napi::CallbackInfo& info);      // (conn, code, reason) -> status
  Napi::Value Abort(const Napi::CallbackInfo& info);      // (conn) -> status
  Napi::Value Flush(const Napi::CallbackInfo& info);      // () -> SQEs submitted
  Napi::Value RunTimers(const Napi::CallbackInfo& info);  // (handshakeMs, ping) -> dropped
  Napi::Value StopAccepting(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);     // () -> {key: number} (session/stats.h)
  Napi::Value RingInfo(const Napi::CallbackInfo& info);  // () -> {features, sizing}
  Napi::Value RingFd(const Napi::CallbackInfo& info);    // () -> the ring's fd
  Napi::Value Destroy(const Napi::CallbackInfo& info);

  // What a method's arguments must be; Usable() checks them and that the server is alive.
  enum class Arg : uint8_t { kNumber, kString, kBuffer, kUint32Array, kAny };
  bool Usable(const Napi::CallbackInfo& info, const char* method, std::initializer_list<Arg> args);

  static void OnReadable(uv_poll_t* handle, int status, int events);
  void Turn();
  void CallJs(Napi::Env env, size_t begin, size_t end);
  void TakeException(Napi::Env env);
  Napi::Array BatchToJs(Napi::Env env, size_t begin, size_t end);
  void WakeIfPending();
  void Shutdown();

  std::unique_ptr<WsServer> ws_;  // the session layer, over its own engine
  Napi::FunctionReference on_events_;
  Napi::FunctionReference on_error_;  // optional: gets what the batch callback threw
  std::unique_ptr<Napi::AsyncContext> async_;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  int efd_ = -1;
  bool in_turn_ = false;
  bool destroyed_ = false;
};

}  // namespace ringcast::binding
