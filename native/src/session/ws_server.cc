#include "session/ws_server.h"

#include <cerrno>
#include <cstring>

#include "http/response.h"
#include "http/tokens.h"
#include "ws/frame_writer.h"
#include "ws/handshake.h"

namespace ringcast {

namespace {

constexpr size_t kErrorResponseSlack = 256;  // status line and fixed headers of an error answer
// An HTTP connection's input buffer keeps up to this much capacity between requests; a larger
// one (a big body) is freed, so an idle keep-alive connection is small again.
constexpr size_t kIdleInbufBytes = 4096;

bool within(const uint8_t* p, const uint8_t* base, size_t len) { return p >= base && p <= base + len; }

}  // namespace

const char* event_name(WsEventType type) {
  switch (type) {
    case WsEventType::kRequest:
      return "request";
    case WsEventType::kMessage:
      return "message";
    case WsEventType::kClosed:
      return "closed";
    case WsEventType::kDrain:
      return "drain";
    case WsEventType::kOverflow:
      return "overflow";
    case WsEventType::kRefused:
      return "refused";
    case WsEventType::kOwnWrite:
      return "own-write";
  }
  return "?";
}

WsServer::WsServer(Engine& engine, const WsConfig& config)
    : engine_(engine), config_(config), sessions_(engine.capacity()) {}

WsServer::WsServer(std::unique_ptr<Engine> engine, const WsConfig& config)
    : owned_engine_(std::move(engine)),
      engine_(*owned_engine_),
      config_(config),
      sessions_(engine_.capacity()) {}

std::unique_ptr<WsServer> WsServer::open(const EngineConfig& engine_config, const WsConfig& config,
                                         int* err) {
  auto engine = std::make_unique<Engine>();
  *err = engine->init(engine_config);
  if (*err < 0) return nullptr;
  return std::unique_ptr<WsServer>(new WsServer(std::move(engine), config));
}

Session* WsServer::session_of(ConnId conn) {
  uint32_t slot = conn_slot(conn);
  if (slot >= sessions_.size() || !sessions_[slot] || sessions_[slot]->id != conn) return nullptr;
  return sessions_[slot].get();
}

Session* WsServer::session(ConnId conn) { return engine_.fd_of(conn) < 0 ? nullptr : session_of(conn); }

void WsServer::emit(WsEventType type, ConnId conn) {
  WsEvent e;
  std::memset(&e, 0, sizeof e);
  e.type = type;
  e.conn = conn;
  events_.push_back(e);
}

int WsServer::poll(int timeout_ms) {
  perform_all();  // a consumer that never flushed
  events_.clear();
  arena_.clear();
  heads_.clear();
  drain_queued_input();
  int n = engine_.poll(timeout_ms);
  if (n < 0) return n;
  for (const Event& ev : engine_.events()) on_engine_event(ev);
  return static_cast<int>(events_.size());
}

void WsServer::on_engine_event(const Event& ev) {
  uint32_t slot = conn_slot(ev.conn);
  switch (ev.type) {
    case EventType::kOpen:
      sessions_[slot].reset(new Session(ev.conn, config_.http, config_.frames));
      sessions_[slot]->phase_since_ms = monotonic_ms();
      live_++;
      return;
    case EventType::kClosed: {
      Session* s = sessions_[slot].get();
      if (!s) return;
      emit(WsEventType::kClosed, ev.conn);
      events_.back().code = s->close_code ? s->close_code : ws::kCloseAbnormal;
      sessions_[slot].reset();
      live_--;
      return;
    }
    case EventType::kDrain:
      emit(WsEventType::kDrain, ev.conn);
      return;
    default:
      break;
  }
  Session* s = session_of(ev.conn);
  if (!s) return;
  switch (ev.type) {
    case EventType::kOverflow:
      if (s->phase == SessionPhase::kWebSocket) {
        send_close(ev.conn, *s, ws::kCloseTryAgainLater,
                   "slow consumer: outbound limit exceeded");  // DESIGN.md policy
        emit(WsEventType::kOverflow, ev.conn);                 // the layer above counts slow consumers
      } else if (s->phase != SessionPhase::kClosing) {
        // An HTTP answer past the outbound limit: no WebSocket frame on an HTTP connection.
        s->phase = SessionPhase::kClosing;
        engine_.close(ev.conn, CloseMode::kAbort);
      }
      return;
    case EventType::kEof:
      return on_eof(ev.conn, *s);
    default:
      s->heard = true;  // any bytes (a pong too) prove the peer alive to the next run_timers
      return on_data(ev.conn, *s, ev.data, ev.len);
  }
}

// The peer's FIN, after every byte before it was handled above. What it asked is answered:
// a WebSocket is closed after the replies to this batch, an HTTP connection after the answers
// to every complete request it sent.
void WsServer::on_eof(ConnId conn, Session& s) {
  s.peer_eof = true;
  switch (s.phase) {
    case SessionPhase::kWebSocket:
      s.phase = SessionPhase::kClosing;  // no Close frame came: 1006 (RFC 6455 7.1.5)
      return own_write(conn, nullptr, true);
    case SessionPhase::kHttp:
      return close_http(conn, s);  // between requests, or in an incomplete one
    default:
      return;  // awaiting an answer (which then closes), or already closing
  }
}

void WsServer::close_http(ConnId conn, Session& s) {
  s.phase = SessionPhase::kClosing;
  engine_.close(conn);
}

void WsServer::own_write(ConnId conn, Frame* f, bool closes) {
  emit(WsEventType::kOwnWrite, conn);
  events_.back().frame = f;
  events_.back().closes = closes;
  own_pending_++;
}

void WsServer::perform(size_t i) {
  if (i >= events_.size()) return;
  WsEvent& e = events_[i];
  if (e.type != WsEventType::kOwnWrite || e.done) return;
  e.done = true;
  own_pending_--;
  if (e.closes) {
    engine_.close(e.conn, CloseMode::kGraceful, e.frame);  // -EALREADY if closing: one Close
  } else if (e.frame) {
    engine_.send(e.conn, e.frame);
  }
  if (e.frame) frame_unref(e.frame);
  e.frame = nullptr;
}

void WsServer::perform_all() {
  for (size_t i = 0; i < events_.size() && own_pending_ > 0; i++) perform(i);
}

int WsServer::flush() {
  perform_all();
  return engine_.flush();
}

void WsServer::on_data(ConnId conn, Session& s, uint8_t* data, size_t len) {
  switch (s.phase) {
    case SessionPhase::kWebSocket:
      return on_frames(conn, s, data, len);
    case SessionPhase::kHttp:
      s.inbuf.insert(s.inbuf.end(), data, data + len);
      return on_http_bytes(conn, s);
    case SessionPhase::kAwaitUpgrade:
    case SessionPhase::kAwaitResponse:
      // Pipelined bytes while the layer above decides; the event has its own copy of the
      // request, and the session's head is re-pointed at inbuf when it is answered.
      s.inbuf.insert(s.inbuf.end(), data, data + len);
      if (s.inbuf.size() > config_.http.max_head_bytes + config_.http.max_body_bytes) {
        engine_.close(conn, CloseMode::kAbort);
        s.phase = SessionPhase::kClosing;
      }
      return;
    case SessionPhase::kClosing:
      return;
  }
}

void WsServer::on_http_bytes(ConnId conn, Session& s) {
  http::HttpParseResult r = s.http->parse(reinterpret_cast<const char*>(s.inbuf.data()), s.inbuf.size());
  if (r.state == http::HttpParseState::kNeedMore) {
    if (s.peer_eof) close_http(conn, s);  // the rest of this request will never come
    return;
  }
  if (r.state == http::HttpParseState::kError) return refuse(conn, s, r.status, r.reason, false);
  const http::HttpRequestHead& head = s.http->head();
  ws::UpgradeCheck up = ws::check_upgrade(head);
  if (up.kind == ws::UpgradeKind::kRejected) {
    return refuse(conn, s, up.status, up.reason, true, up.extra_headers);
  }
  if (up.kind == ws::UpgradeKind::kOk && head.chunked) {
    // The bytes after an accepted handshake are frames; a handshake with a body has none.
    return refuse(conn, s, http::kStatusBadRequest, "WebSocket upgrade must not have a body", true);
  }
  if (up.kind == ws::UpgradeKind::kNotUpgrade) {
    const Body body = read_body(conn, s, head);
    if (body == Body::kFailed) return;
    if (body == Body::kPartial) {
      // The body is still arriving. A client that asked "Expect: 100-continue" (curl does for
      // larger bodies) waits for the interim answer before sending it (RFC 7231 section 5.1.1).
      if (s.peer_eof) return close_http(conn, s);
      if (!s.continue_sent && http::iequals(head.field("expect"), "100-continue")) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        send_bytes(conn, kContinue, sizeof kContinue - 1);
        s.continue_sent = true;
      }
      return;
    }
  }
  surface_request(conn, s, up.kind == ws::UpgradeKind::kOk);
}

// The request goes to the layer above as a copy: inbuf may grow (pipelined bytes) or the
// session end (the peer's RST) before the batch is done with it.
void WsServer::surface_request(ConnId conn, Session& s, bool upgrade) {
  const http::HttpRequestHead& head = s.http->head();
  const size_t body = upgrade ? 0 : size_t(body_length(s, head));
  s.phase = upgrade ? SessionPhase::kAwaitUpgrade : SessionPhase::kAwaitResponse;
  arena_.emplace_back(s.inbuf.begin(), s.inbuf.begin() + static_cast<long>(head.head_bytes + body));
  heads_.push_back(head);
  heads_.back().base = reinterpret_cast<const char*>(arena_.back().data());
  emit(WsEventType::kRequest, conn);
  WsEvent& e = events_.back();
  e.upgrade = upgrade;
  e.head = &heads_.back();
  e.data = arena_.back().data() + head.head_bytes;
  e.len = static_cast<uint32_t>(body);
}

uint64_t WsServer::body_length(const Session& s, const http::HttpRequestHead& head) {
  return head.chunked ? (s.chunked ? s.chunked->body_bytes() : 0) : head.content_length;
}

// The body of a plain request: Content-Length bytes behind the head, or a chunked body that
// is decoded in place as it arrives, so inbuf holds head + body so far + bytes not read yet.
WsServer::Body WsServer::read_body(ConnId conn, Session& s, const http::HttpRequestHead& head) {
  if (!head.chunked) {
    return s.inbuf.size() < head.head_bytes + head.content_length ? Body::kPartial : Body::kComplete;
  }
  if (!s.chunked) {
    s.chunked = std::make_unique<http::ChunkedDecoder>(http::ChunkedLimits{config_.http.max_body_bytes});
  }
  const size_t start = head.head_bytes + size_t(s.chunked->body_bytes());
  const http::ChunkedStep st = s.chunked->feed(s.inbuf.data() + start, s.inbuf.size() - start);
  const auto at = [&](size_t off) { return s.inbuf.begin() + static_cast<long>(start + off); };
  s.inbuf.erase(at(st.produced), at(st.consumed));
  if (st.state == http::ChunkedState::kError) {
    refuse(conn, s, st.status, st.reason, false);
    return Body::kFailed;
  }
  return st.state == http::ChunkedState::kDone ? Body::kComplete : Body::kPartial;
}

int WsServer::accept_upgrade(ConnId conn, std::string_view extra_headers, bool deflate) {
  Session* s = session(conn);
  if (!s) return -ENOTCONN;
  if (s->phase != SessionPhase::kAwaitUpgrade) return -EINVAL;
  // inbuf may have moved since the head was parsed: point the head's views at it again.
  s->http->parse(reinterpret_cast<const char*>(s->inbuf.data()), s->inbuf.size());
  const http::HttpRequestHead& head = s->http->head();
  ws::UpgradeCheck up = ws::check_upgrade(head);
  std::string out(ws::kSwitchingProtocolsBytes + extra_headers.size(), '\0');
  size_t n = ws::write_switching_protocols(&out[0], out.size(), up.key, extra_headers);
  if (n == 0) return -EINVAL;
  int r = send_bytes(conn, out.data(), n);
  if (r < 0) return r;
  s->inbuf.erase(s->inbuf.begin(), s->inbuf.begin() + static_cast<long>(head.head_bytes));
  s->http.reset();
  s->phase = SessionPhase::kWebSocket;
  if (deflate) s->frames.allow_compressed();
  const uint32_t slot = conn_slot(conn);
  if (deflate_by_slot_.size() <= slot) deflate_by_slot_.resize(slot + 1, 0);
  deflate_by_slot_[slot] = deflate ? 1 : 0;
  if (s->inbuf.empty()) std::vector<uint8_t>().swap(s->inbuf);  // an idle WebSocket keeps no HTTP memory
  // Frames the client sent right behind its request, and its FIN, are handled at the next poll.
  if (!s->inbuf.empty() || s->peer_eof) queue_input(conn, *s);
  return 0;
}

int WsServer::reject(ConnId conn, int status, std::string_view code, std::string_view msg) {
  Session* s = session(conn);
  if (!s) return -ENOTCONN;
  if (s->phase != SessionPhase::kAwaitUpgrade) return -EINVAL;
  http_error(conn, *s, status, code, msg);
  return 0;
}

int WsServer::respond(ConnId conn, const void* bytes, size_t len, bool keep_alive) {
  Session* s = session(conn);
  if (!s) return -ENOTCONN;
  // An upgrade is refused with a whole answer too (then closed): the layer above writes its
  // refusals itself, byte for byte as on its other transport.
  const bool refusal = s->phase == SessionPhase::kAwaitUpgrade && !keep_alive;
  if (s->phase != SessionPhase::kAwaitResponse && !refusal) return -EINVAL;
  int r = send_bytes(conn, bytes, len);
  if (r < 0) return r;
  if (refusal) {
    close_http(conn, *s);
    return 0;
  }
  const http::HttpRequestHead& head = s->http->head();
  size_t used = head.head_bytes + size_t(body_length(*s, head));
  s->inbuf.erase(s->inbuf.begin(), s->inbuf.begin() + static_cast<long>(used));
  if (!keep_alive || (s->peer_eof && s->inbuf.empty())) {
    close_http(conn, *s);
    return 0;
  }
  s->http->reset();
  s->chunked.reset();
  s->continue_sent = false;
  s->phase = SessionPhase::kHttp;
  s->phase_since_ms = monotonic_ms();  // the keep-alive gap counts toward the next request
  if (s->inbuf.empty()) {
    if (s->inbuf.capacity() > kIdleInbufBytes) std::vector<uint8_t>().swap(s->inbuf);
  } else {
    queue_input(conn, *s);  // a pipelined next request (answered even after the peer's FIN)
  }
  return 0;
}

void WsServer::queue_input(ConnId conn, Session& s) {
  if (s.input_queued) return;
  s.input_queued = true;
  queued_input_.push_back(conn);
}

// Bytes held in a session's inbuf are parsed at the start of the next poll, so their events
// join that batch; the bytes move to the arena, which lives exactly as long as the batch.
void WsServer::drain_queued_input() {
  std::vector<ConnId> conns;
  conns.swap(queued_input_);
  for (ConnId conn : conns) {
    Session* s = session_of(conn);
    if (!s) continue;
    s->input_queued = false;
    if (s->phase == SessionPhase::kHttp) {
      on_http_bytes(conn, *s);
    } else if (s->phase == SessionPhase::kWebSocket) {
      arena_.push_back(std::move(s->inbuf));
      s->inbuf = std::vector<uint8_t>();
      std::vector<uint8_t>& bytes = arena_.back();
      on_frames(conn, *s, bytes.data(), bytes.size());
      if (s->peer_eof) on_eof(conn, *s);
    }
  }
}

void WsServer::on_frames(ConnId conn, Session& s, uint8_t* data, size_t len) {
  for (size_t off = 0; off < len && s.phase == SessionPhase::kWebSocket;) {
    ws::FrameStep step = s.frames.parse(data + off, len - off, s.message);
    off += step.consumed;
    if (step.event.type != ws::FrameEventType::kNone) {
      on_frame_event(conn, s, step.event, data, len);
    } else if (step.consumed == 0) {
      break;
    }
  }
}

void WsServer::on_frame_event(ConnId conn, Session& s, const ws::FrameEvent& fe, const uint8_t* chunk,
                              size_t chunk_len) {
  switch (fe.type) {
    case ws::FrameEventType::kText:
    case ws::FrameEventType::kBinary: {
      const uint8_t* data = fe.data;
      if (fe.size && !within(fe.data, chunk, chunk_len)) {
        // Assembled in s.message: the batch takes the buffer itself (the next message starts
        // a new one), so a connection keeps no capacity from its largest message.
        const size_t at = static_cast<size_t>(fe.data - s.message.data());
        arena_.push_back(std::move(s.message));
        s.message = std::vector<uint8_t>();
        data = arena_.back().data() + at;
      }
      emit(WsEventType::kMessage, conn);
      events_.back().binary = fe.type == ws::FrameEventType::kBinary;
      events_.back().compressed = fe.compressed;
      events_.back().data = data;
      events_.back().len = static_cast<uint32_t>(fe.size);
      return;
    }
    case ws::FrameEventType::kPing: {
      uint8_t pong[ws::kMaxControlFrameBytes];
      size_t n = ws::write_pong_frame(pong, fe.data, fe.size);
      Frame* f = n ? engine_.copy_frame(pong, n) : nullptr;
      if (f) own_write(conn, f, false);  // after the replies to the messages before it
      return;
    }
    case ws::FrameEventType::kClose:
      // Echo the peer's status (RFC 6455 section 5.5.1); 1005 becomes an empty close.
      return close_in_order(conn, s, fe.code, "");
    case ws::FrameEventType::kError:
      return close_in_order(conn, s, fe.code, fe.reason);
    default:
      return;
  }
}

Frame* WsServer::close_frame(uint16_t code, std::string_view reason) {
  uint8_t buf[ws::kMaxControlFrameBytes];
  size_t n = ws::write_close_frame(buf, code, reason);
  return engine_.copy_frame(buf, n);
}

// A Close the layer above asked for, or the overflow policy's: now, behind what is queued.
void WsServer::send_close(ConnId conn, Session& s, uint16_t code, std::string_view reason) {
  Frame* f = close_frame(code, reason);
  if (f) {
    engine_.close(conn, CloseMode::kGraceful, f);  // queued past the outbound limit, then FIN
    frame_unref(f);
  } else {
    engine_.close(conn, CloseMode::kAbort);
  }
  s.phase = SessionPhase::kClosing;
  s.close_code = code;
}

// A Close answering what the peer sent (its Close, or a frame that fails the connection): at
// its place in the batch, after the replies to the messages read before it.
void WsServer::close_in_order(ConnId conn, Session& s, uint16_t code, std::string_view reason) {
  s.phase = SessionPhase::kClosing;
  s.close_code = code;
  own_write(conn, close_frame(code, reason), true);
}

// A request this layer refuses by itself (a head, body or handshake it cannot accept): the
// layer above hears of it as kRefused, and the answer is word for word what the ws transport
// writes for the same request (server/protocol/errors.ts, server/http/handshake.ts; compared
// byte for byte by test/contract/error-bodies.test.ts).
void WsServer::refuse(ConnId conn, Session& s, int status, std::string_view reason, bool upgrade,
                      std::string_view extra) {
  emit(WsEventType::kRefused, conn);
  events_.back().code = static_cast<uint16_t>(status);
  events_.back().upgrade = upgrade;
  switch (status) {
    case http::kStatusPayloadTooLarge:
      return http_error(conn, s, status, "too_large",
                        "body exceeds " + std::to_string(config_.http.max_body_bytes) + " bytes", extra);
    case http::kStatusHeaderFieldsTooLarge:
      return http_error(conn, s, status, "headers_too_large",
                        reason == http::kReasonTooManyFields
                            ? "more than " + std::to_string(config_.http.max_headers) + " header fields"
                            : "request head past --max-head-bytes or more fields than --max-headers",
                        extra);
    case ws::kStatusUpgradeRequired:
      return http_error(conn, s, status, "bad_version", reason, extra);
    default:
      if (upgrade) return http_error(conn, s, status, "bad_handshake", reason, extra);
      return http_error(conn, s, status, "bad_request", "malformed HTTP request", extra);
  }
}

void WsServer::http_error(ConnId conn, Session& s, int status, std::string_view code, std::string_view msg,
                          std::string_view extra) {
  // JSON escaping at most sextuples a byte (\u00XX)
  std::string out(kErrorResponseSlack + code.size() * 6 + msg.size() * 6 + extra.size(), '\0');
  size_t n = http::write_error_response(&out[0], out.size(), status, code, msg, extra);
  if (n) send_bytes(conn, out.data(), n);
  close_http(conn, s);
}

}  // namespace ringcast
