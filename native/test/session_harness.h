// A WsServer on the real engine, driven as the binding drives it, and the client-side bytes
// the protocol-layer tests write: shared by session_ws_test and session_lifecycle_test.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine_test.h"
#include "server_frame.h"
#include "session/ws_server.h"
#include "ws/frame_writer.h"

namespace enginetest {

using namespace ringcast;

inline const uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};
inline const char kUpgrade[] =
    "GET /ws?topics=a HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

struct Harness {
  Engine engine;
  std::unique_ptr<WsServer> server;
  int port = 0;
  std::vector<WsEvent> seen;          // copies; data below
  std::vector<std::string> payloads;  // kMessage data / kRequest body, by event index
  std::function<void(const WsEvent&)> on_event = [](const WsEvent&) {};

  explicit Harness(uint64_t max_outbound = 8u << 20, uint32_t close_timeout_ms = 5000) {
    EngineConfig cfg;
    cfg.close_timeout_ms = close_timeout_ms;
    cfg.max_slots = 64;
    cfg.recv_buffers = 64;
    cfg.recv_buffer_size = 4096;
    cfg.max_outbound = max_outbound;
    CHECK_EQ(engine.init(cfg), 0);
    server.reset(new WsServer(engine));
    port = engine.listen("127.0.0.1", 0);
  }
  // A data frame encoded as the layer above encodes it, then sent or fanned out.
  int send(ConnId conn, ws::Opcode op, const void* payload, size_t len) {
    std::vector<uint8_t> f = wstest::server_frame(op, payload, len);
    return server->send(conn, f.data(), f.size());
  }
  size_t fanout(const ConnId* conns, size_t n, ws::Opcode op, const void* payload, size_t len) {
    std::vector<uint8_t> f = wstest::server_frame(op, payload, len);
    return server->fanout(conns, n, f.data(), f.size());
  }
  void turn() {
    server->poll(1);
    // As the binding does: the server's own writes are performed where they stand.
    for (size_t i = 0; i < server->events().size(); i++) {
      const WsEvent& e = server->events()[i];
      seen.push_back(e);
      payloads.emplace_back(reinterpret_cast<const char*>(e.data), e.data ? e.len : 0);
      on_event(e);
      server->perform(i);
    }
    server->flush();
  }
  bool until(const std::function<bool()>& done, double ms = 5000) {
    double end = now_ms() + ms;
    while (!done()) {
      if (now_ms() > end) return false;
      turn();
    }
    return true;
  }
  size_t count(WsEventType t) const {
    size_t n = 0;
    for (const WsEvent& e : seen) n += e.type == t;
    return n;
  }
  const WsEvent* last(WsEventType t) const {
    for (size_t i = seen.size(); i-- > 0;) {
      if (seen[i].type == t) return &seen[i];
    }
    return nullptr;
  }
  std::string last_payload(WsEventType t) const {
    for (size_t i = seen.size(); i-- > 0;) {
      if (seen[i].type == t) return payloads[i];
    }
    return "";
  }
  // Reads exactly n bytes from a client socket while turning the server.
  std::string read_n(int fd, size_t n) {
    std::string out;
    char buf[65536];
    until([&] {
      ssize_t r = recv(fd, buf, std::min(sizeof buf, n - out.size()), MSG_DONTWAIT);
      if (r > 0) out.append(buf, static_cast<size_t>(r));
      return out.size() >= n || r == 0;
    });
    return out;
  }
  std::string read_http_response(int fd) {
    std::string out;
    while (out.find("\r\n\r\n") == std::string::npos) {
      std::string c = read_n(fd, 1);
      if (c.empty()) break;
      out += c;
    }
    return out;
  }
  bool eof(int fd) {
    char c;
    bool closed = false;
    until([&] { return closed = recv(fd, &c, 1, MSG_DONTWAIT) == 0; });
    return closed;
  }
  void finish() {
    // kClosed of a close made between polls reaches the server at the next poll
    CHECK(until([&] { return engine.stats().live_slots == 0 && server->live_sessions() == 0; }));
    turn();  // gives back the receive buffers the last batch held
    check_quiet(engine);
  }
};

inline std::string client_frame(ws::Opcode op, const std::string& payload, bool fin = true) {
  std::vector<uint8_t> out;
  ws::append_client_frame(out, op, fin, reinterpret_cast<const uint8_t*>(payload.data()), payload.size(),
                          kKey);
  return std::string(out.begin(), out.end());
}

inline std::string server_frame(ws::Opcode op, const std::string& payload) {
  const std::vector<uint8_t> f = wstest::server_frame(op, payload.data(), payload.size());
  return std::string(f.begin(), f.end());
}

inline std::string close_frame(uint16_t code, std::string_view reason = "") {
  uint8_t buf[ws::kMaxControlFrameBytes];
  size_t n = ws::write_close_frame(buf, code, reason);
  return std::string(reinterpret_cast<char*>(buf), n);
}

// Connects, upgrades (accepting every upgrade; with deflate, as one that negotiated
// permessage-deflate), returns the client fd and the server's id.
inline int open_websocket(Harness& h, ConnId* conn, const std::string& pipelined = "", bool deflate = false) {
  int fd = connect_client(h.port);
  h.on_event = [&](const WsEvent& e) {
    if (e.type == WsEventType::kRequest && e.upgrade) {
      *conn = e.conn;
      CHECK_EQ(h.server->accept_upgrade(
                   e.conn, deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "", deflate),
               0);
    }
  };
  CHECK(write_all(fd, (std::string(kUpgrade) + pipelined).data(), sizeof kUpgrade - 1 + pipelined.size()));
  std::string resp = h.read_http_response(fd);
  CHECK(resp.find("HTTP/1.1 101 Switching Protocols\r\n") == 0);
  CHECK(resp.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  h.on_event = [](const WsEvent&) {};
  return fd;
}

}  // namespace enginetest
