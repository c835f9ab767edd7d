// The session layer: the per-connection HTTP/WebSocket lifecycle between the engine and the
// binding. HTTP request heads, the RFC 6455 upgrade (the layer above decides; the 101 is
// written here), frames parsed and unmasked in the receive buffer, ping/pong/close answered
// here, text and binary messages surfaced as events; on the way out, pre-encoded frames sent
// and fanned out (session/output.cc). The engine's overflow policy lands here: close 1013.
//
// A turn:  server.poll(0);  for (ev : server.events()) ...;  server.flush();
//
// What an event points to (a request head and body, a message) belongs to the batch: copied
// out of the session (or, for a message, the receive buffer the batch holds) when the event
// is made, and valid until the next poll() whatever happens to the connection meanwhile.
//
// Order on a connection: a frame this layer writes by itself (a pong, the Close echoing the
// peer's or failing the connection, the close after the peer's FIN) is a kOwnWrite event at
// its place in the batch. The consumer walks the batch and calls perform(i) when it reaches
// one, after handling the events before it; flush() performs any it skipped. So a Close never
// overtakes the replies to the messages read before it (RFC 6455 5.5.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "engine/self_test.h"
#include "http/head.h"
#include "session/session.h"
#include "session/stats.h"
#include "ws/rfc6455.h"

namespace ringcast {

struct WsConfig {
  http::HttpLimits http;   // head size, header count, body size
  ws::FrameLimits frames;  // max message bytes (1009 past it)
};

// The events of a batch, numbered once: the binding hands JavaScript each event as a record
// whose kind is this number (and exports the names: RingServer.eventKinds), and
// server/transport/native.ts checks its EventKind against them when it loads the addon.
enum class WsEventType : uint8_t {
  kRequest = 1,   // head (+ body): upgrade ? accept_upgrade()/reject() : respond()
  kMessage = 2,   // data/len: a whole text (binary=false) or binary message
  kClosed = 3,    // code: close status sent or received, 1006 when the connection just ended
  kDrain = 4,     // the connection's queue emptied after passing the drain mark
  kOverflow = 5,  // the outbound limit was passed: close 1013 was queued (for the layer's counters)
  kRefused = 6,   // answered here with an HTTP error (code: status; upgrade: it was an upgrade)
  kOwnWrite = 7,  // this layer's own frame or close, in order: perform(i) when reached (see above)
};
// "request", "message", ... "own-write": the name JavaScript and traces know a kind by.
const char* event_name(WsEventType type);

struct WsEvent {
  WsEventType type;
  bool upgrade;     // kRequest: a valid WebSocket upgrade
  bool binary;      // kMessage
  bool compressed;  // kMessage: permessage-deflate, data is the deflated payload (inflate above)
  uint16_t code;    // kClosed
  ConnId conn;
  uint32_t len;                       // kMessage payload, kRequest body
  const uint8_t* data;                // valid until the next poll()
  const http::HttpRequestHead* head;  // kRequest: valid until the next poll()
  Frame* frame;                       // kOwnWrite: the frame (a reference), or null
  bool closes;                        // kOwnWrite: close the connection (after `frame`)
  bool done;                          // kOwnWrite: performed
};

constexpr int64_t kNoExclude = -1;

class WsServer {
 public:
  // A server over its own engine, which it initialises (the binding's way in): nullptr and
  // *err = -errno when the engine cannot start.
  static std::unique_ptr<WsServer> open(const EngineConfig& engine_config, const WsConfig& config, int* err);
  // Over an engine the caller owns and initialised (tests, fuzzers, benchmarks).
  explicit WsServer(Engine& engine, const WsConfig& config = {});
  // Whether an engine can run here: the loopback self-test of engine/self_test.h (one reason
  // and one fix when it cannot). The binding's probe(), before any server is made.
  static SelfTestResult self_test() { return uring_self_test(); }

  // The engine's listener, adoption and wake-up, passed through (engine/engine.h says how they work).
  int listen(const char* host, uint16_t port) { return engine_.listen(host, port); }
  int64_t adopt(int fd) { return engine_.adopt(fd); }
  void stop_accepting() { engine_.stop_accepting(); }
  int register_eventfd(int efd) { return engine_.register_eventfd(efd); }

  int poll(int timeout_ms);
  const std::vector<WsEvent>& events() const { return events_; }
  // Carries out the kOwnWrite event events()[i] (once; other events are ignored).
  void perform(size_t i);
  // Performs what the batch has left, then one submit (Engine::flush).
  int flush();
  // Input held for the next poll() (bytes behind an answered request): the caller must turn
  // again even if the kernel has nothing new.
  bool input_pending() const { return !queued_input_.empty(); }
  // Work left for another turn, in the engine or here: the caller must turn again rather than
  // wait for a wake-up that may not come.
  bool turn_pending() const { return engine_.work_pending() || input_pending(); }

  // Answers to kRequest.
  // With deflate, the connection negotiated permessage-deflate (its answer is among the extra
  // headers): the frame parser accepts RSV1 on first frames and marks those messages compressed.
  int accept_upgrade(ConnId conn, std::string_view extra_headers = {}, bool deflate = false);
  // An error answer {"error":code,"msg":msg} (docs/protocol.md), then close.
  int reject(ConnId conn, int status, std::string_view code, std::string_view msg);
  // A complete HTTP response; keep_alive reads the next request on the connection. To a
  // pending upgrade, with keep_alive false: the layer's own refusal, then close.
  int respond(ConnId conn, const void* bytes, size_t len, bool keep_alive);

  // Output (session/output.cc). Data frames arrive encoded (header + payload, built once by the
  // layer above: server/protocol/frame-writer.ts); this layer writes only its own control frames
  // (pong, Close) and HTTP answers. Send only to ids whose upgrade was accepted: a frame sent to
  // an HTTP connection would go into its HTTP stream.
  // 0, -ENOTCONN for a stale or closing id, -ENOBUFS past the outbound limit, -ENOMEM.
  int send(ConnId conn, const void* frame, size_t len);
  // ONE frame to every id but `exclude` (the publisher of an echo:false publish; kNoExclude for
  // none), copied into engine memory once and referenced by every queue. With a deflated frame
  // (the same message compressed, RSV1 set), connections accepted with permessage-deflate get
  // that one instead: each frame still copied once. Returns how many queued it.
  size_t fanout(const ConnId* conns, size_t n, const void* frame, size_t len, int64_t exclude = kNoExclude,
                const void* deflated = nullptr, size_t deflated_len = 0);
  int close(ConnId conn, uint16_t code, std::string_view reason = {});
  // RST now, queue dropped (also on a closing connection).
  int abort(ConnId conn) { return engine_.close(conn, CloseMode::kAbort); }

  // Graceful drain: stop accepting, close every WebSocket with `code` (1001 going away) after
  // what is queued, end every HTTP connection. Poll until live_sessions() is 0. Returns how
  // many connections it closed.
  size_t shutdown(uint16_t code = ws::kCloseGoingAway);

  // The peer's address of a live connection ("" if gone): a getpeername(2), not for every event.
  std::string peer_address(ConnId conn) const;

  size_t live_sessions() const { return live_; }
  // Every counter of session/stats.h (a walk over the sessions: for a scrape, not per event).
  Stats stats() const;
  std::string features() const { return engine_.features().names(); }
  std::string sizing() const { return engine_.sizing().describe(); }
  int ring_fd() const { return engine_.ring_fd(); }
  // Capacity of every session's input and message-assembly buffers (a walk over the sessions:
  // for stats, not per event).
  size_t buffered_bytes() const;

  // Timers, called by the layer above every few hundred ms: drops a connection whose HTTP
  // request (or the idle gap before a keep-alive one) has taken longer than
  // handshake_timeout_ms; with ping, drops a WebSocket that sent nothing since the last
  // run_timers' ping, and pings the others. Returns how many it dropped.
  size_t run_timers(uint64_t handshake_timeout_ms, bool ping);

 private:
  // The session of a live connection (for the layer's calls), or of `conn` as the batch
  // knows it, even if the engine has ended it since (its bytes are still handled).
  Session* session(ConnId conn);
  Session* session_of(ConnId conn);
  void on_eof(ConnId conn, Session& s);
  void surface_request(ConnId conn, Session& s, bool upgrade);
  void own_write(ConnId conn, Frame* f, bool closes);
  void perform_all();
  void close_http(ConnId conn, Session& s);
  void on_engine_event(const Event& ev);
  void on_data(ConnId conn, Session& s, uint8_t* data, size_t len);
  void on_http_bytes(ConnId conn, Session& s);
  enum class Body : uint8_t { kPartial, kComplete, kFailed };
  Body read_body(ConnId conn, Session& s, const http::HttpRequestHead& head);
  static uint64_t body_length(const Session& s, const http::HttpRequestHead& head);
  void on_frames(ConnId conn, Session& s, uint8_t* data, size_t len);
  void on_frame_event(ConnId conn, Session& s, const ws::FrameEvent& fe, const uint8_t* chunk,
                      size_t chunk_len);
  void drain_queued_input();
  void queue_input(ConnId conn, Session& s);
  Frame* close_frame(uint16_t code, std::string_view reason);
  void send_close(ConnId conn, Session& s, uint16_t code, std::string_view reason);
  void close_in_order(ConnId conn, Session& s, uint16_t code, std::string_view reason);
  void refuse(ConnId conn, Session& s, int status, std::string_view reason, bool upgrade,
              std::string_view extra = {});
  void http_error(ConnId conn, Session& s, int status, std::string_view code, std::string_view msg,
                  std::string_view extra = {});
  int send_bytes(ConnId conn, const void* bytes, size_t len);
  void emit(WsEventType type, ConnId conn);
  size_t fanout_one(const ConnId* conns, size_t n, const void* frame, size_t len, int64_t exclude);
  bool deflates(ConnId conn) const;

  WsServer(std::unique_ptr<Engine> engine, const WsConfig& config);
  std::unique_ptr<Engine> owned_engine_;  // open()'s; declared first: destroyed last
  Engine& engine_;
  WsConfig config_;
  std::vector<std::unique_ptr<Session>> sessions_;  // by slot
  std::vector<WsEvent> events_;
  // What this batch's events point to, outside the receive buffers: assembled messages
  // (moved out of their session), requests (copied), input held from the last turn.
  std::deque<std::vector<uint8_t>> arena_;
  std::deque<http::HttpRequestHead> heads_;
  std::vector<ConnId> queued_input_;  // sessions with bytes in inbuf to parse at the next poll
  size_t live_ = 0;
  size_t own_pending_ = 0;  // kOwnWrite events of this batch not yet performed
  // One byte per slot: the connection there negotiated permessage-deflate. Written by every
  // accepted upgrade (so a reused slot never inherits it); read by fanouts with a deflated
  // frame, dense so a fanout touches no session.
  std::vector<uint8_t> deflate_by_slot_;
  // Scratch for a fanout with a deflated frame: the ids split by negotiation (capacity kept).
  std::vector<ConnId> plain_ids_;
  std::vector<ConnId> deflate_ids_;
  // What those fanouts queued to deflate connections: compressed bytes on the wire, and the
  // uncompressed bytes they stood for (stats()).
  uint64_t deflated_bytes_out_ = 0;
  uint64_t deflated_source_bytes_ = 0;
};

}  // namespace ringcast
