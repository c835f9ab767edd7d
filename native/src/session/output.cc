// The session layer's output: what the layer above sends, fans out and closes, and the
// frames and answers this layer writes by itself on a timer (pings, handshake deadlines).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "session/ws_server.h"  // output.cc implements part of WsServer

namespace ringcast {

int WsServer::send(ConnId conn, const void* frame, size_t len) {
  // A closing connection's session is still here: the engine decides (its Close is the last
  // frame it takes).
  if (!session(conn)) return -ENOTCONN;
  return send_bytes(conn, frame, len);
}

bool WsServer::deflates(ConnId conn) const {
  const uint32_t slot = conn_slot(conn);
  return slot < deflate_by_slot_.size() && deflate_by_slot_[slot] != 0;
}

size_t WsServer::fanout(const ConnId* conns, size_t n, const void* frame, size_t len, int64_t exclude,
                        const void* deflated, size_t deflated_len) {
  if (deflated == nullptr) return fanout_one(conns, n, frame, len, exclude);
  plain_ids_.clear();
  deflate_ids_.clear();
  for (size_t i = 0; i < n; i++) {
    if (static_cast<int64_t>(conns[i]) == exclude) continue;
    (deflates(conns[i]) ? deflate_ids_ : plain_ids_).push_back(conns[i]);
  }
  const size_t plain_to = fanout_one(plain_ids_.data(), plain_ids_.size(), frame, len, kNoExclude);
  const size_t deflated_to =
      fanout_one(deflate_ids_.data(), deflate_ids_.size(), deflated, deflated_len, kNoExclude);
  deflated_bytes_out_ += deflated_to * deflated_len;
  deflated_source_bytes_ += deflated_to * len;
  return plain_to + deflated_to;
}

size_t WsServer::fanout_one(const ConnId* conns, size_t n, const void* frame, size_t len, int64_t exclude) {
  if (n == 0) return 0;
  Frame* f = engine_.copy_frame(frame, len);
  if (f == nullptr) return 0;
  size_t queued = 0;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {  // skip the excluded id (echo:false) without copying the list
    if (static_cast<int64_t>(conns[i]) != exclude) continue;
    queued += engine_.fanout(conns + start, i - start, f);
    start = i + 1;
  }
  queued += engine_.fanout(conns + start, n - start, f);
  frame_unref(f);
  return queued;
}

std::string WsServer::peer_address(ConnId conn) const {
  const int fd = engine_.fd_of(conn);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

int WsServer::send_bytes(ConnId conn, const void* bytes, size_t len) {
  Frame* f = engine_.copy_frame(bytes, len);
  if (!f) return -ENOMEM;
  int r = engine_.send(conn, f);
  frame_unref(f);
  return r;
}

size_t WsServer::shutdown(uint16_t code) {
  engine_.stop_accepting();
  size_t closed = 0;
  for (auto& s : sessions_) {
    if (!s || s->phase == SessionPhase::kClosing) continue;
    closed += close(s->id, code, "going away") == 0;
  }
  return closed;
}

int WsServer::close(ConnId conn, uint16_t code, std::string_view reason) {
  Session* s = session(conn);
  if (!s) return -ENOTCONN;
  if (s->phase == SessionPhase::kClosing) return -EALREADY;  // one Close per connection
  if (s->phase != SessionPhase::kWebSocket) {
    close_http(conn, *s);
    return 0;
  }
  send_close(conn, *s, code, reason);
  return 0;
}

Stats WsServer::stats() const {
  Stats s;
  const EngineStats e = engine_.stats();
#define RINGCAST_COPY_STAT(field, key, kind, metric, help) s.field = e.field;
  RINGCAST_ENGINE_STATS(RINGCAST_COPY_STAT)
#undef RINGCAST_COPY_STAT
  s.sessions = live_;
  s.session_buffer_bytes = buffered_bytes();
  s.deflated_bytes_out = deflated_bytes_out_;
  s.deflated_source_bytes = deflated_source_bytes_;
  return s;
}

size_t WsServer::buffered_bytes() const {
  size_t n = 0;
  for (const auto& s : sessions_) {
    if (s) n += s->inbuf.capacity() + s->message.capacity();
  }
  return n;
}

size_t WsServer::run_timers(uint64_t handshake_timeout_ms, bool ping) {
  static const uint8_t kPing[2] = {0x89, 0x00};  // FIN + ping, empty payload (RFC 6455 5.5.2)
  uint64_t now = monotonic_ms();
  size_t dropped = 0;
  for (auto& owned : sessions_) {
    Session* s = owned.get();
    if (s == nullptr) continue;
    bool stale = false;
    switch (s->phase) {
      case SessionPhase::kHttp:
        stale = now - s->phase_since_ms > handshake_timeout_ms;
        break;
      case SessionPhase::kWebSocket:
        if (!ping) break;
        if (!s->heard) {
          stale = true;
          break;
        }
        s->heard = false;
        send_bytes(s->id, kPing, sizeof kPing);
        break;
      default:
        break;  // the layer above is deciding, or the connection is already closing
    }
    if (stale) {
      s->phase = SessionPhase::kClosing;
      engine_.close(s->id, CloseMode::kAbort);
      dropped++;
    }
  }
  return dropped;
}

}  // namespace ringcast
