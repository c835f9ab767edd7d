// Seeded randomized fuzzer of the session layer: a real Engine + WsServer on 127.0.0.1 and many
// client sockets on the real kernel, not libFuzzer (the kernel's timing is part of the input).
//
// Each client follows a random plan: valid and invalid HTTP requests (GET, POST with
// Content-Length or a chunked body, upgrades), pipelined, then WebSocket frames (text, binary,
// fragmented with pings between fragments, close, and frames that fail the connection), written
// in random pieces, then a FIN, an RST or nothing at a random moment; some clients never read.
// Between polls the server side acts like the JS layer: accept_upgrade / reject / respond
// (keep-alive or not, sometimes several polls late), close, send, fanout to random and stale
// ids, run_timers, and perform() of the layer's own writes at their place or left to flush().
//
// Invariants, checked per event and again after the turn's calls (an event's bytes are valid
// until the next poll, whatever happened to its connection meanwhile):
//   - a request is the next valid request its client sent, head and body byte for byte;
//   - a message is the next valid message its client sent, byte for byte, only after an
//     accepted upgrade; nothing is surfaced after a Close or a frame that fails the connection;
//   - every byte an event points to is read (ASan catches a pointer into freed memory);
//   - no event for a connection after its kClosed, and one kClosed per accepted connection;
//   - once every client is closed (or after shutdown(1001)), every session ends within a
//     bounded time, live_sessions() is 0 and the engine's counters are back to zero;
//   - a reply to a message is never refused before a Close was queued on its connection (the
//     server's own Close keeps its place behind the replies, RFC 6455 5.5.1);
//   - a reading client gets well-formed HTTP responses, then whole unmasked frames in the order
//     they were queued, nothing after a Close or a "Connection: close" response, and, when it
//     reads the server's Close, every frame a send() queued before it (session_reader.h).
// A run is a series of epochs, each with a fresh engine and a random configuration. A failure
// prints the seed, the epoch and turn, and the connection's events and calls, then aborts.
//
//   session_fuzz [--seed N] [--seconds S] [--clients K] [--verbose]   (one line per epoch)
#include <cinttypes>
#include <cstdarg>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../test/engine_test.h"
#include "../test/server_frame.h"
#include "session/ws_server.h"
#include "session_plan.h"
#include "session_reader.h"

using namespace ringcast;
using namespace sessionfuzz;
using enginetest::now_ms;

namespace {

uint64_t g_seed = 0;
int g_epoch = 0;
uint64_t g_turn = 0;
bool g_verbose = false;

[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "session_fuzz: FAILED (seed %" PRIu64 ", epoch %d, turn %" PRIu64 "): ", g_seed,
               g_epoch, g_turn);
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::abort();
}

// ---- clients ----------------------------------------------------------------------------

enum class Fate : uint8_t { kFin, kRst, kClose, kHold };

struct Client {
  int id = 0;
  int fd = -1;
  Plan plan;
  size_t sent = 0;
  size_t cut = 0;  // bytes written before the fate
  Fate fate = Fate::kHold;
  bool reads = true;  // false: never reads (a small receive buffer)
  bool fated = false;
  bool peer_gone = false;  // EOF or reset seen, or a write failed
  uint64_t fate_turn = 0;  // when the fate is carried out, once everything is written
  uint64_t end_turn = 0;   // the client closes by then whatever happens
  uint64_t received = 0;
  Reader reader;
  std::vector<OutFrame> out;  // what the server queued for it, in order
  bool overflowed = false;    // a send() got -ENOBUFS or the connection got kOverflow
};

void close_client(Client& c, bool rst) {
  if (c.fd < 0) return;
  if (rst) {
    enginetest::abort_socket(c.fd);
  } else {
    ::close(c.fd);
  }
  c.fd = -1;
}

// ---- the server side and the checker ----------------------------------------------------

struct ConnState {
  int client = -1;
  size_t next_request = 0;
  size_t next_message = 0;
  bool websocket = false;  // an accept_upgrade returned 0
  bool closing = false;    // a Close was queued (close(), a performed kOwnWrite, overflow, drain)
  bool closed = false;
  std::string trace;  // events and calls, for the message of a failure
};

struct PendingAnswer {
  ConnId conn;
  uint64_t due_turn;
  bool upgrade;
};

struct Figures {
  uint64_t epochs = 0, turns = 0, connections = 0, requests = 0, request_bytes = 0, messages = 0,
           message_bytes = 0, events = 0, own_writes = 0, closed = 0, refused = 0, overflows = 0,
           wire_bytes = 0, calls = 0, checked_closes = 0, shutdowns = 0, max_drain_ms = 0, close_timeouts = 0;
};

volatile uint64_t g_sink;

void touch(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++) s += b[i];
  g_sink = g_sink + s;
}

class Epoch {
 public:
  Epoch(Rng& r, Figures& fig, int max_clients) : r_(r), fig_(fig), max_clients_(max_clients) {}

  void run(double ms);

 private:
  void start();
  void add_client();
  void client_turn(Client& c);
  void server_turn();
  void check_event(size_t i, const WsEvent& e, bool again);
  void on_event(size_t i, const WsEvent& e);
  void answer(ConnId conn, bool upgrade);
  void random_call();
  ConnId random_id();
  ConnId random_websocket_id();
  void note_performed();
  void note(ConnId conn, const char* what, int rc);
  Client* client_of(ConnId conn);
  void send_to(ConnId conn, bool binary, const void* p, size_t n, const char* what);
  void check_rc(int rc, const char* what);
  void finish();

  Rng& r_;
  Figures& fig_;
  int max_clients_;
  Limits lim_;
  Engine engine_;
  std::unique_ptr<WsServer> server_;
  int port_ = 0;
  std::vector<std::unique_ptr<Client>> clients_;  // every client of this epoch, by id
  std::unordered_map<ConnId, ConnState> conns_;
  std::vector<ConnId> known_;       // every id seen, live or not
  std::vector<ConnId> websockets_;  // every id whose upgrade was accepted
  std::vector<PendingAnswer> pending_;
  struct Want {
    const Request* request = nullptr;
    const std::string* message = nullptr;
  };
  std::vector<Want> want_;  // by event index of the current batch
  uint32_t close_timeout_ms_ = 0;
  uint64_t closed_events_ = 0;
  bool shut_down_ = false;
};

void Epoch::start() {
  EngineConfig cfg;
  static const uint32_t kBufs[] = {8, 16, 64, 256};
  static const uint32_t kBufSize[] = {1024, 4096, 16384};
  static const uint64_t kOutbound[] = {16 << 10, 64 << 10, 1 << 20, 8 << 20};
  cfg.recv_buffers = kBufs[r_.below(4)];
  cfg.recv_buffer_size = kBufSize[r_.below(3)];
  cfg.max_outbound = kOutbound[r_.below(4)];
  cfg.drain_mark = cfg.max_outbound / 4;
  cfg.close_timeout_ms = r_.range(50, 600);
  cfg.max_slots = r_.pct(15) ? r_.range(4, 32) : 256;
  cfg.sq_entries = r_.pct(20) ? 64 : 1024;
  cfg.cq_entries = cfg.sq_entries * 4;
  // half the epochs as the Node binding runs the ring (COOP_TASKRUN, docs/engine.md)
  cfg.defer_taskrun = r_.pct(50);
  close_timeout_ms_ = cfg.close_timeout_ms;
  int rc = engine_.init(cfg);
  if (rc < 0) fail("engine init: %s", std::strerror(-rc));
  WsConfig ws;
  ws.http.max_head_bytes = kMaxHead;
  ws.http.max_body_bytes = lim_.body;
  ws.frames.max_message_bytes = lim_.message;
  server_.reset(new WsServer(engine_, ws));
  port_ = engine_.listen("127.0.0.1", 0);
  if (port_ <= 0) fail("listen: %d", port_);
  fig_.epochs++;
}

void Epoch::add_client() {
  auto c = std::make_unique<Client>();
  c->id = static_cast<int>(clients_.size());
  c->plan = make_plan(r_, c->id, lim_);
  c->reads = r_.pct(80);
  c->fd = enginetest::connect_client(port_);
  if (c->fd < 0) fail("connect: %s", std::strerror(-c->fd));
  enginetest::set_nonblocking(c->fd);
  if (!c->reads) enginetest::set_rcvbuf(c->fd, 4096);
  c->cut = r_.pct(70) ? c->plan.wire.size() : r_.below(static_cast<uint32_t>(c->plan.wire.size() + 1));
  static const Fate kFates[] = {Fate::kFin, Fate::kRst, Fate::kClose, Fate::kHold};
  c->fate = kFates[r_.below(4)];
  c->end_turn = g_turn + r_.range(20, 3000);
  fig_.connections++;
  fig_.wire_bytes += c->plan.wire.size();
  clients_.push_back(std::move(c));
}

void Epoch::client_turn(Client& c) {
  if (c.fd < 0) return;
  if (c.reads && !c.peer_gone) {
    char buf[65536];
    for (int i = 0; i < 4; i++) {
      ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        c.received += static_cast<uint64_t>(n);
        if (const char* err = c.reader.feed(buf, static_cast<size_t>(n), c.out)) {
          fail("client %d: %s (after %" PRIu64 " responses and %" PRIu64 " frames)", c.id, err,
               c.reader.responses, c.reader.frames);
        }
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) c.peer_gone = true;
      break;
    }
  }
  if ((!shut_down_ && g_turn >= c.end_turn) ||
      (c.peer_gone && (c.fated || c.fate == Fate::kHold) && r_.pct(50))) {
    return close_client(c, r_.pct(30));
  }
  if (c.fated) return;
  if (c.sent < c.cut && r_.pct(60)) {
    size_t left = c.cut - c.sent;
    uint32_t k = r_.below(100);
    size_t n = k < 20 ? 1 : k < 50 ? r_.range(1, 64) : k < 80 ? r_.range(1, 4096) : left;
    n = std::min(n, left);
    ssize_t w = ::send(c.fd, c.plan.wire.data() + c.sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      c.sent += static_cast<size_t>(w);
    } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      c.peer_gone = true;  // the server closed; the fate follows
      c.cut = c.sent;
    }
  }
  if (c.sent < c.cut) return;
  if (c.fate_turn == 0) c.fate_turn = g_turn + (r_.pct(50) ? 0 : r_.range(1, 30));
  if (g_turn < c.fate_turn) return;
  c.fated = true;
  switch (c.fate) {
    case Fate::kFin:
      shutdown(c.fd, SHUT_WR);
      break;
    case Fate::kRst:
      return close_client(c, true);
    case Fate::kClose:
      return close_client(c, false);
    case Fate::kHold:
      break;
  }
}

void Epoch::check_rc(int rc, const char* what) {
  fig_.calls++;
  if (rc == 0 || rc == -ENOTCONN || rc == -EINVAL || rc == -ENOBUFS || rc == -EALREADY || rc == -ENOMEM)
    return;
  fail("%s returned %d", what, rc);
}

// A known id (live or stale), or one past the slot table. (Not any id: one that happened to
// match a live connection would be a frame the client cannot expect.)
ConnId Epoch::random_id() {
  if (!known_.empty() && r_.pct(90)) return known_[r_.below(static_cast<uint32_t>(known_.size()))];
  return make_conn_id(engine_.capacity() + r_.below(4), r_.below(kGenMask + 1));
}

// Frames go only to connections whose upgrade was accepted (live or not), as the JS layer's
// subscriber lists hold them: WsServer::send/fanout do not look at the phase.
ConnId Epoch::random_websocket_id() {
  if (!websockets_.empty() && r_.pct(95)) {
    // mostly the newest (the live ones are at the end), sometimes any, stale included
    const uint32_t n = static_cast<uint32_t>(websockets_.size());
    return websockets_[r_.pct(70) ? n - 1 - r_.below(std::min<uint32_t>(n, 40)) : r_.below(n)];
  }
  return make_conn_id(engine_.capacity() + r_.below(4), r_.below(kGenMask + 1));
}

Client* Epoch::client_of(ConnId conn) {
  auto it = conns_.find(conn);
  return it == conns_.end() || it->second.client < 0 ? nullptr : clients_[size_t(it->second.client)].get();
}

void Epoch::send_to(ConnId conn, bool binary, const void* p, size_t n, const char* what) {
  const std::vector<uint8_t> frame =
      wstest::server_frame(binary ? ws::Opcode::kBinary : ws::Opcode::kText, p, n);
  const int rc = server_->send(conn, frame.data(), frame.size());
  note(conn, what, rc);
  check_rc(rc, what);
  auto it = conns_.find(conn);
  if (rc != 0 && rc != -ENOBUFS && it != conns_.end() && it->second.websocket && !it->second.closing) {
    // Not ended by the engine (no kClosed in this batch), no Close queued: a reply to a message
    // read before the peer's Close, a failing frame or its FIN goes out before the server's
    // Close (RFC 6455 5.5.1).
    fail("conn %u: %s refused with %d before any Close was queued; trace %s", conn, what, rc,
         it->second.trace.c_str());
  }
  Client* c = client_of(conn);
  if (!c) return;
  if (rc == 0) c->out.push_back({std::string(static_cast<const char*>(p), n), binary, true});
  if (rc == -ENOBUFS) c->overflowed = true;
}

void Epoch::answer(ConnId conn, bool upgrade) {
  auto it = conns_.find(conn);
  if (upgrade) {
    if (r_.pct(80)) {
      int rc = server_->accept_upgrade(conn, r_.pct(20) ? "Sec-WebSocket-Protocol: chat\r\n" : "");
      check_rc(rc, "accept_upgrade");
      note(conn, "accept", rc);
      if (rc == 0 && it != conns_.end() && !it->second.websocket) {
        it->second.websocket = true;
        websockets_.push_back(conn);
      }
    } else {
      static const int kStatus[] = {400, 401, 403, 429, 503};
      const int rc =
          server_->reject(conn, kStatus[r_.below(5)], "forbidden", r_.pct(50) ? "" : "no \"way\"\n");
      check_rc(rc, "reject");
      note(conn, "reject", rc);
    }
    return;
  }
  const bool keep = r_.pct(85);
  std::string body = random_bytes(r_, r_.size(r_.pct(5) ? 200000 : 2000));
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                     (keep ? "" : "Connection: close\r\n") + "\r\n" + body;
  const int rc = server_->respond(conn, resp.data(), resp.size(), keep);
  check_rc(rc, "respond");
  note(conn, keep ? "respond" : "respond-close", rc);
}

void Epoch::random_call() {
  const ConnId id = random_id();
  switch (r_.below(9)) {
    case 0:
    case 1: {
      std::string p = r_.pct(50) ? random_text(r_, r_.size(20000)) : random_bytes(r_, r_.size(20000));
      send_to(random_websocket_id(), r_.pct(50), p.data(), p.size(), "send");
      break;
    }
    case 2: {
      std::vector<ConnId> ids(r_.range(1, 40));
      for (ConnId& c : ids) c = random_websocket_id();
      std::string p = random_bytes(r_, r_.size(4000));
      const bool binary = r_.pct(50);
      const std::vector<uint8_t> frame =
          wstest::server_frame(binary ? ws::Opcode::kBinary : ws::Opcode::kText, p.data(), p.size());
      // sometimes one of them published with echo:false: every occurrence of it is skipped
      const int64_t exclude =
          r_.pct(30) ? int64_t{ids[r_.below(static_cast<uint32_t>(ids.size()))]} : kNoExclude;
      size_t n = server_->fanout(ids.data(), ids.size(), frame.data(), frame.size(), exclude);
      if (n > ids.size()) fail("fanout queued %zu of %zu", n, ids.size());
      for (ConnId c : ids) {
        if (int64_t{c} == exclude) continue;
        if (Client* cl = client_of(c)) cl->out.push_back({p, binary, false});
      }
      fig_.calls++;
      break;
    }
    case 3: {
      static const uint16_t kCodes[] = {1000, 1001, 1008, 1011, 4001};
      const int rc = server_->close(id, kCodes[r_.below(5)], r_.pct(50) ? "" : "bye");
      note(id, "close", rc);
      check_rc(rc, "close");
      if (rc == 0) conns_[id].closing = true;
      break;
    }
    case 4:
      answer(id, true);
      break;  // an answer in the wrong phase or to a stale id
    case 5:
      answer(id, false);
      break;
    case 6:
      check_rc(server_->reject(id, 403, "forbidden", "x"), "reject");
      break;
    case 7: {
      static const uint64_t kTimeouts[] = {20, 300, 5000};
      if (server_->run_timers(kTimeouts[r_.below(3)], r_.pct(50)) > 0) {
        for (ConnId c : websockets_) {  // the ones it dropped (an abort ends them at once)
          if (engine_.fd_of(c) < 0) conns_[c].closing = true;
        }
      }
      fig_.calls++;
      break;
    }
    default:
      server_->flush();  // performs every kOwnWrite of the batch, later ones too
      note_performed();
      break;
  }
}

// The calls on a connection, for the message of a failure.
void Epoch::note(ConnId conn, const char* what, int rc) {
  auto it = conns_.find(conn);
  if (it != conns_.end())
    it->second.trace += std::string(what) + "=" + std::to_string(rc) + "@" + std::to_string(g_turn) + " ";
}

// A performed kOwnWrite that closes has queued the connection's Close.
void Epoch::note_performed() {
  for (const WsEvent& e : server_->events()) {
    if (e.type == WsEventType::kOwnWrite && e.closes && e.done) conns_[e.conn].closing = true;
  }
}

void touch_head(const http::HttpRequestHead& h) {
  touch(h.base, h.head_bytes);
  touch(h.text(h.method_text).data(), h.method_text.length);
  touch(h.text(h.target).data(), h.target.length);
  for (const http::HttpField& f : h.fields) {
    touch(h.text(f.name).data(), f.name.length);
    touch(h.text(f.value).data(), f.value.length);
  }
}

bool same(const uint8_t* data, uint32_t len, const std::string& want) {
  return len == want.size() && (len == 0 || std::memcmp(data, want.data(), len) == 0);
}

// Every byte of an event is read; requests and messages are compared with what the client sent
// (the plan's copy, recorded in want_ for the second look after the turn's calls).
void Epoch::check_event(size_t i, const WsEvent& e, bool again) {
  if (again) {
    if (e.type == WsEventType::kRequest) {
      touch_head(*e.head);
      const Request& q = *want_[i].request;
      if (e.head->text(e.head->target) != q.target || !same(e.data, e.len, q.body)) {
        fail("request '%s' changed after the turn's calls", q.target.c_str());
      }
    } else if (e.type == WsEventType::kMessage) {
      if (!same(e.data, e.len, *want_[i].message))
        fail("conn %u: a message changed after the turn's calls", e.conn);
    } else if (e.type == WsEventType::kOwnWrite && e.frame) {
      touch(e.frame->data(), e.frame->len);
    }
    return;
  }
  ConnState& cs = conns_[e.conn];
  switch (e.type) {
    case WsEventType::kRequest: {
      if (!e.head || !e.head->base) fail("request %zu without a head", i);
      const http::HttpRequestHead& h = *e.head;
      touch_head(h);
      if (e.len) touch(e.data, e.len);
      const std::string_view t = h.text(h.target);
      const size_t c = t.find("c="), k = t.find("&n=");
      if (c == std::string_view::npos || k == std::string_view::npos) {
        fail("a request no client sent validly: target '%.*s'", int(t.size()), t.data());
      }
      const int client = std::atoi(std::string(t.substr(c + 2, k - c - 2)).c_str());
      const size_t n = std::strtoul(std::string(t.substr(k + 3)).c_str(), nullptr, 10);
      if (client < 0 || size_t(client) >= clients_.size()) fail("request from unknown client %d", client);
      const Plan& plan = clients_[size_t(client)]->plan;
      if (n >= plan.requests.size()) fail("client %d: request %zu was not valid", client, n);
      const Request& q = plan.requests[n];
      if (t != q.target || e.upgrade != q.upgrade) {
        fail("client %d: request '%.*s' (upgrade %d) is not '%s'", client, int(t.size()), t.data(), e.upgrade,
             q.target.c_str());
      }
      if (!same(e.data, e.len, q.body)) {
        fail("client %d request %zu: body of %u bytes differs from the %zu sent", client, n, e.len,
             q.body.size());
      }
      if (cs.client >= 0 && cs.client != client)
        fail("conn %u: requests of clients %d and %d", e.conn, cs.client, client);
      if (cs.client < 0 && !clients_[size_t(client)]->reads) {
        // A client that never reads, with a small send buffer on our side: the queue fills.
        int small = 4096, fd = engine_.fd_of(e.conn);
        if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      }
      cs.client = client;
      if (n != cs.next_request)
        fail("client %d: request %zu surfaced, %zu expected", client, n, cs.next_request);
      if (cs.websocket) fail("client %d: a request after the upgrade", client);
      cs.next_request++;
      want_[i].request = &q;
      fig_.requests++;
      fig_.request_bytes += e.len + h.head_bytes;
      return;
    }
    case WsEventType::kMessage: {
      if (e.len) touch(e.data, e.len);
      if (cs.client < 0) fail("conn %u: a message before any request", e.conn);
      if (!cs.websocket) fail("client %d: a message without an accepted upgrade", cs.client);
      const Plan& plan = clients_[size_t(cs.client)]->plan;
      const size_t m = cs.next_message;
      if (m >= plan.messages.size()) fail("client %d: message %zu was never sent validly", cs.client, m);
      const Message& want = plan.messages[m];
      if (e.binary != want.binary || !same(e.data, e.len, want.payload)) {
        fail("client %d message %zu: %u bytes (binary %d) differ from the %zu sent (binary %d)", cs.client, m,
             e.len, e.binary, want.payload.size(), want.binary);
      }
      cs.next_message++;
      want_[i].message = &want.payload;
      fig_.messages++;
      fig_.message_bytes += e.len;
      return;
    }
    case WsEventType::kOwnWrite:
      if (e.frame) touch(e.frame->data(), e.frame->len);
      fig_.own_writes++;
      return;
    case WsEventType::kClosed:
      if (e.code < 1000 || e.code > 4999) fail("conn %u closed with code %u", e.conn, e.code);
      cs.closed = true;
      closed_events_++;
      fig_.closed++;
      return;
    case WsEventType::kRefused:
      if (e.code < 400 || e.code > 599) fail("conn %u refused with %u", e.conn, e.code);
      fig_.refused++;
      return;
    case WsEventType::kOverflow:
      fig_.overflows++;
      if (Client* c = client_of(e.conn)) c->overflowed = true;
      return;
    case WsEventType::kDrain:
      return;
  }
}

void Epoch::on_event(size_t i, const WsEvent& e) {
  auto seen = conns_.try_emplace(e.conn);
  if (seen.second) known_.push_back(e.conn);
  if (seen.first->second.closed) fail("conn %u: event %d after its kClosed", e.conn, int(e.type));
  check_event(i, e, false);
  seen.first->second.trace += std::string(event_name(e.type)) +
                              (e.type == WsEventType::kOwnWrite && e.closes ? "(close)" : "") + "@" +
                              std::to_string(g_turn) + " ";
  fig_.events++;
  switch (e.type) {
    case WsEventType::kRequest:
      // Most answers come at once, as a synchronous handler's; some turns later (an auth check).
      if (r_.pct(65)) {
        answer(e.conn, e.upgrade);
      } else {
        pending_.push_back({e.conn, g_turn + r_.range(1, r_.pct(90) ? 8 : 80), e.upgrade});
      }
      break;
    case WsEventType::kMessage:
      if (r_.pct(50)) {  // an echo, written before the Close that may follow in this batch
        send_to(e.conn, e.binary, e.data, e.len, "echo");
      }
      break;
    case WsEventType::kOwnWrite:
      if (r_.pct(70)) {
        server_->perform(i);
        if (e.closes) conns_[e.conn].closing = true;
      }
      break;
    default:
      break;
  }
  if (r_.pct(5)) random_call();
}

void Epoch::server_turn() {
  g_turn++;
  fig_.turns++;
  int n = server_->poll(r_.pct(10) ? 1 : 0);
  if (n < 0) fail("poll: %s", std::strerror(-n));
  const std::vector<WsEvent>& evs = server_->events();
  want_.assign(evs.size(), Want{});
  for (const WsEvent& e : evs) {
    // Its 1013 is queued; or the engine ended it while reaping.
    if (e.type == WsEventType::kOverflow || e.type == WsEventType::kClosed) conns_[e.conn].closing = true;
  }
  for (size_t i = 0; i < evs.size(); i++) on_event(i, evs[i]);
  // Late answers that are due, then a few calls of the JS layer's own.
  for (size_t i = 0; i < pending_.size();) {
    if (pending_[i].due_turn > g_turn) {
      i++;
      continue;
    }
    PendingAnswer a = pending_[i];
    pending_[i] = pending_.back();
    pending_.pop_back();
    answer(a.conn, a.upgrade);
  }
  for (uint32_t k = r_.below(3); k > 0; k--) {
    if (r_.pct(30)) random_call();
  }
  if (!evs.empty() && r_.pct(3)) {
    server_->perform(r_.below(static_cast<uint32_t>(evs.size())));  // any event, perhaps again
    note_performed();
  }
  server_->flush();
  note_performed();
  // Whatever the calls did, the batch's bytes are still there until the next poll.
  for (size_t i = 0; i < evs.size(); i++) check_event(i, evs[i], true);
}

void Epoch::finish() {
  // Either the server drains with 1001 while the clients go on as they were, except that none
  // gives up (one that never reads never closes: its session must end by the close deadline all
  // the same), or every client
  // goes (FIN, RST or close). Either way every session ends within the bound.
  const double bound_ms = close_timeout_ms_ + 3000.0;  // the deadline, plus the turns around it
  size_t live_at_end = server_->live_sessions();
  double start = now_ms();
  uint64_t polls = 0;
  const auto wait_for_the_end = [&](const char* after, bool clients_on) {
    while (server_->live_sessions() != 0 || engine_.stats().live_slots != 0) {
      if (now_ms() - start > bound_ms || ++polls > 1000000) {
        fail("%zu sessions and %" PRIu64 " slots still live %.0f ms after %s", server_->live_sessions(),
             engine_.stats().live_slots, now_ms() - start, after);
      }
      if (clients_on) {
        for (auto& c : clients_) client_turn(*c);
      }
      server_turn();
    }
  };
  if (r_.pct(35)) {
    shut_down_ = true;
    fig_.shutdowns++;
    server_->shutdown(ws::kCloseGoingAway);
    for (auto& kv : conns_) kv.second.closing = true;
    wait_for_the_end("shutdown(1001)", true);
  }
  for (auto& c : clients_) {
    if (c->fd >= 0) close_client(*c, r_.pct(40));
  }
  if (!shut_down_) {
    live_at_end = server_->live_sessions();
    start = now_ms();
  }
  wait_for_the_end("every client closed", false);
  const double drain_ms = now_ms() - start;
  fig_.max_drain_ms = std::max<uint64_t>(fig_.max_drain_ms, static_cast<uint64_t>(drain_ms));
  if (g_verbose) {
    std::printf("epoch %d: %zu clients, %zu sessions ended in %.1f ms (%" PRIu64 " polls)%s\n", g_epoch,
                clients_.size(), live_at_end, drain_ms, polls, shut_down_ ? " after shutdown(1001)" : "");
  }
  // One more turn: the events of the last calls, and every buffer back.
  server_turn();
  if (server_->live_sessions() != 0) fail("live_sessions() = %zu at the end", server_->live_sessions());
  const EngineStats s = engine_.stats();
  if (s.live_slots || s.live_frames || s.bytes_queued || s.queue_nodes || s.buffers_out ||
      s.sends_in_flight) {
    fail("engine not quiet: slots %" PRIu64 " frames %" PRIu64 " queued %" PRIu64 " nodes %" PRIu64
         " buffers %" PRIu64 " sends %" PRIu64,
         s.live_slots, s.live_frames, s.bytes_queued, s.queue_nodes, s.buffers_out, s.sends_in_flight);
  }
  if (closed_events_ != s.accepted) {  // (accepted excludes the ones turned away: no slot)
    fail("%" PRIu64 " kClosed for %" PRIu64 " accepted connections", closed_events_, s.accepted);
  }
  for (const auto& kv : conns_) {
    if (!kv.second.closed) fail("conn %u never got its kClosed; trace %s", kv.first, kv.second.trace.c_str());
  }
  // A client that read the server's Close read every frame a send() queued before it (an
  // overflow drops the frames not yet sent; its Close is 1013).
  for (const auto& c : clients_) {
    const Reader& rd = c->reader;
    if (!rd.got_close || c->overflowed || rd.close_code == ws::kCloseTryAgainLater) continue;
    bool missing = rd.skipped_must;
    for (size_t j = rd.cursor; j < c->out.size(); j++) missing |= c->out[j].must;
    if (missing) {
      fail("client %d: a frame queued before the Close (%u) never arrived (%zu of %zu read)", c->id,
           rd.close_code, rd.cursor, c->out.size());
    }
    fig_.checked_closes++;
  }
  fig_.close_timeouts += s.close_timeouts;
}

void Epoch::run(double ms) {
  start();
  const double end = now_ms() + ms;
  const int target = static_cast<int>(r_.range(1, static_cast<uint32_t>(max_clients_)));
  uint64_t turns = 0;
  while (now_ms() < end && ++turns < 400000) {
    int open = 0;
    for (auto& c : clients_) {
      if (c->fd < 0) continue;
      open++;
      if (r_.pct(60)) client_turn(*c);
    }
    if (open < target && r_.pct(30)) add_client();
    server_turn();
  }
  finish();
}

void usage() {
  std::fprintf(stderr, "usage: session_fuzz [--seed N] [--seconds S] [--clients K] [--verbose]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  uint64_t seed = static_cast<uint64_t>(now_ms() * 1000) ^ static_cast<uint64_t>(getpid());
  double seconds = 20;
  int clients = 32;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc && a != "--verbose") usage();
    if (a == "--seed") {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seconds") {
      seconds = std::atof(argv[++i]);
    } else if (a == "--verbose") {
      g_verbose = true;
    } else if (a == "--clients") {
      clients = std::atoi(argv[++i]);
    } else {
      usage();
    }
  }
  if (clients < 1 || clients > 200 || seconds <= 0) usage();
  g_seed = seed;
  std::printf("session_fuzz: seed %" PRIu64 ", %.0f s, up to %d clients\n", seed, seconds, clients);
  Rng r(seed);
  Figures fig;
  const double end = now_ms() + seconds * 1000;
  while (now_ms() < end) {
    g_epoch++;
    Epoch e(r, fig, clients);
    e.run(std::min(end - now_ms(), double(r.range(500, 3000))));
  }
  std::printf("session_fuzz: seed %" PRIu64 " passed: %" PRIu64 " epochs, %" PRIu64 " polls, %" PRIu64
              " connections, %" PRIu64 " events (%" PRIu64 " requests, %" PRIu64 " messages, %" PRIu64
              " own writes, %" PRIu64 " refused, %" PRIu64 " overflows, %" PRIu64 " closed)\n",
              seed, fig.epochs, fig.turns, fig.connections, fig.events, fig.requests, fig.messages,
              fig.own_writes, fig.refused, fig.overflows, fig.closed);
  std::printf("session_fuzz: %" PRIu64 " calls, %" PRIu64 " drains with 1001, %" PRIu64
              " close timeouts, %" PRIu64
              " Closes read with every frame before them; %.1f MB written by clients, %.1f MB of requests"
              " and %.1f MB of messages compared; longest end %" PRIu64 " ms\n",
              fig.calls, fig.shutdowns, fig.close_timeouts, fig.checked_closes, fig.wire_bytes / 1e6,
              fig.request_bytes / 1e6, fig.message_bytes / 1e6, fig.max_drain_ms);
  return 0;
}
