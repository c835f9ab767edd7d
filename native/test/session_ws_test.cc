// The protocol layer on the real engine: HTTP heads, the upgrade decided above and answered
// with a 101 here, frames in and out, ping/pong/close handled natively, protocol errors closing
// with their codes, keep-alive HTTP, and the overflow policy closing with 1013.
#include <string>
#include <vector>

#include "session_harness.h"

using namespace ringcast;
using namespace enginetest;

namespace {

void upgrade_then_messages_both_ways() {
  Harness h;
  ConnId conn = 0;
  // A text frame sent right behind the request is parsed once the upgrade is accepted.
  int fd = open_websocket(h, &conn, client_frame(ws::Opcode::kText, "hello"));
  const WsEvent* req = h.last(WsEventType::kRequest);
  CHECK(req != nullptr);
  CHECK(h.until([&] { return h.count(WsEventType::kMessage) == 1; }));
  CHECK(h.last_payload(WsEventType::kMessage) == "hello");
  CHECK(!h.last(WsEventType::kMessage)->binary);

  CHECK_EQ(h.fanout(&conn, 1, ws::Opcode::kText, "world", 5), 1);
  h.server->flush();
  CHECK(h.read_n(fd, 7) == server_frame(ws::Opcode::kText, "world"));

  std::string bin = client_frame(ws::Opcode::kBinary, std::string("\x00\x01\x02", 3));
  CHECK(write_all(fd, bin.data(), bin.size()));
  CHECK(h.until([&] { return h.count(WsEventType::kMessage) == 2; }));
  CHECK(h.last(WsEventType::kMessage)->binary);
  CHECK(h.last_payload(WsEventType::kMessage) == std::string("\x00\x01\x02", 3));
  close(fd);
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }));
  CHECK_EQ(h.last(WsEventType::kClosed)->code, ws::kCloseAbnormal);  // no close frame: 1006
  h.finish();
}

// One fanout: every id but the excluded one (echo:false), and a connection that negotiated
// permessage-deflate gets the deflated frame when there is one. Frames leave in order, so the
// next frame a skipped client reads is the one sent after the fanout.
void a_fanout_skips_the_excluded_id_and_gives_deflate_connections_their_frame() {
  Harness h;
  ConnId a = 0, b = 0, c = 0;
  int fa = open_websocket(h, &a);
  int fb = open_websocket(h, &b, "", true);
  int fc = open_websocket(h, &c);
  const ConnId ids[] = {a, b, c};
  const std::string plain = server_frame(ws::Opcode::kText, "plain");
  const std::string deflated =
      "\xc1\x03"
      "abc";  // FIN | RSV1 | text: the layer above's bytes, as they are
  const std::string next = server_frame(ws::Opcode::kText, "next");

  CHECK_EQ(h.server->fanout(ids, 3, plain.data(), plain.size(), kNoExclude, deflated.data(), deflated.size()),
           3);
  h.server->flush();
  CHECK(h.read_n(fa, plain.size()) == plain);
  CHECK(h.read_n(fb, deflated.size()) == deflated);
  CHECK(h.read_n(fc, plain.size()) == plain);
  // what went compressed: the deflated frame to b, standing for the plain one
  CHECK_EQ(h.server->stats().deflated_bytes_out, deflated.size());
  CHECK_EQ(h.server->stats().deflated_source_bytes, plain.size());

  CHECK_EQ(h.server->fanout(ids, 3, plain.data(), plain.size(), a), 2);  // no deflated frame: plain to all
  CHECK_EQ(h.server->fanout(ids, 3, plain.data(), plain.size(), b, deflated.data(), deflated.size()), 2);
  CHECK_EQ(h.server->stats().deflated_bytes_out, deflated.size());  // neither went compressed
  CHECK_EQ(h.server->stats().deflated_source_bytes, plain.size());
  for (ConnId id : ids) CHECK_EQ(h.send(id, ws::Opcode::kText, "next", 4), 0);
  h.server->flush();
  CHECK(h.read_n(fa, plain.size() + next.size()) == plain + next);
  CHECK(h.read_n(fb, plain.size() + next.size()) == plain + next);
  CHECK(h.read_n(fc, 2 * plain.size() + next.size()) == plain + plain + next);
  close(fa);
  close(fb);
  close(fc);
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 3; }));
  h.finish();
}

void ping_is_answered_natively() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string ping = client_frame(ws::Opcode::kPing, "abc");
  CHECK(write_all(fd, ping.data(), ping.size()));
  CHECK(h.read_n(fd, 5) == server_frame(ws::Opcode::kPong, "abc"));
  CHECK_EQ(h.count(WsEventType::kMessage), 0);
  close(fd);
  h.finish();
}

void a_fragmented_message_split_byte_by_byte_is_assembled() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string bytes = client_frame(ws::Opcode::kText, "Hel", false) +
                      client_frame(ws::Opcode::kContinuation, "lo, world", true);
  for (char c : bytes) {
    CHECK(write_all(fd, &c, 1));
    h.turn();
  }
  CHECK(h.until([&] { return h.count(WsEventType::kMessage) == 1; }));
  CHECK(h.last_payload(WsEventType::kMessage) == "Hello, world");
  close(fd);
  h.finish();
}

void a_client_close_is_echoed_then_fin() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string bye = close_frame(ws::kCloseNormal);
  std::string masked = client_frame(ws::Opcode::kClose, bye.substr(2));
  CHECK(write_all(fd, masked.data(), masked.size()));
  CHECK(h.read_n(fd, bye.size()) == bye);
  CHECK(h.eof(fd));
  close(fd);  // ends the server's lingering close
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }));
  CHECK_EQ(h.last(WsEventType::kClosed)->code, ws::kCloseNormal);
  h.finish();
}

void invalid_utf8_closes_with_1007() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string bad = client_frame(ws::Opcode::kText, "\xc3\x28");
  CHECK(write_all(fd, bad.data(), bad.size()));
  std::string frame = h.read_n(fd, 4);
  CHECK(frame.size() >= 4);
  CHECK_EQ(static_cast<uint8_t>(frame[0]), 0x88);
  CHECK_EQ((static_cast<uint8_t>(frame[2]) << 8) | static_cast<uint8_t>(frame[3]), 1007);
  close(fd);  // ends the server's lingering close
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }));
  CHECK_EQ(h.last(WsEventType::kClosed)->code, ws::kCloseInvalidPayload);
  h.finish();
}

void a_bad_version_gets_426_and_a_rejected_upgrade_its_status() {
  Harness h;
  int fd = connect_client(h.port);
  std::string req = kUpgrade;
  req.replace(req.find("Version: 13"), 11, "Version: 12");
  CHECK(write_all(fd, req.data(), req.size()));
  std::string resp = h.read_http_response(fd);
  CHECK(resp.find("HTTP/1.1 426") == 0);
  CHECK(resp.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
  CHECK(h.eof(fd));
  CHECK_EQ(h.count(WsEventType::kRequest), 0);  // decided natively
  close(fd);

  fd = connect_client(h.port);
  h.on_event = [&](const WsEvent& e) {
    if (e.type == WsEventType::kRequest) CHECK_EQ(h.server->reject(e.conn, 403, "forbidden", "no"), 0);
  };
  CHECK(write_all(fd, kUpgrade, sizeof kUpgrade - 1));
  CHECK(h.read_http_response(fd).find("HTTP/1.1 403") == 0);
  CHECK(h.eof(fd));
  close(fd);
  h.finish();
}

void plain_http_keeps_alive_across_pipelined_requests() {
  Harness h;
  int fd = connect_client(h.port);
  std::string reqs =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const char done[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone";
  std::vector<std::string> targets;
  h.on_event = [&](const WsEvent& e) {
    if (e.type != WsEventType::kRequest) return;
    CHECK(!e.upgrade);
    targets.emplace_back(e.head->text(e.head->target));
    bool first = targets.size() == 1;
    if (!first) CHECK(std::string(reinterpret_cast<const char*>(e.data), e.len) == "hello");
    CHECK_EQ(first ? h.server->respond(e.conn, ok, sizeof ok - 1, true)
                   : h.server->respond(e.conn, done, sizeof done - 1, false),
             0);
  };
  CHECK(write_all(fd, reqs.data(), reqs.size()));
  CHECK(h.read_n(fd, sizeof ok - 1) == ok);
  CHECK(h.read_n(fd, sizeof done - 1) == done);
  CHECK(h.eof(fd));
  CHECK_EQ(targets.size(), 2);
  if (targets.size() == 2) CHECK(targets[0] == "/healthz" && targets[1] == "/publish");
  close(fd);
  h.finish();
}

void a_chunked_body_arriving_in_pieces_is_decoded_then_the_next_request_served() {
  Harness h;
  int fd = connect_client(h.port);
  const std::string head = "POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body = "5;ext\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: 1\r\n\r\n";
  const std::string next = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::vector<std::string> bodies;
  h.on_event = [&](const WsEvent& e) {
    if (e.type != WsEventType::kRequest) return;
    bodies.emplace_back(reinterpret_cast<const char*>(e.data), e.len);
    CHECK_EQ(h.server->respond(e.conn, ok, sizeof ok - 1, true), 0);
  };
  const std::string wire = head + body + next;
  // In pieces that cut the size lines, the data and the trailer, with turns in between.
  for (size_t at = 0; at < wire.size(); at += 7) {
    const size_t n = std::min<size_t>(7, wire.size() - at);
    CHECK(write_all(fd, wire.data() + at, n));
    for (int i = 0; i < 3; i++) h.turn();
  }
  CHECK(h.read_n(fd, sizeof ok - 1) == ok);
  CHECK(h.read_n(fd, sizeof ok - 1) == ok);
  CHECK_EQ(bodies.size(), 2);
  if (bodies.size() == 2) CHECK(bodies[0] == "hello, world" && bodies[1].empty());
  close(fd);
  h.finish();
}

void a_bad_chunked_body_gets_400_and_a_chunked_upgrade_too() {
  Harness h;
  const std::string bad =
      "POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n";
  const std::string upgrade =
      std::string(kUpgrade).insert(sizeof kUpgrade - 3, "Transfer-Encoding: chunked\r\n");
  for (const std::string& wire : {bad, upgrade}) {
    int fd = connect_client(h.port);
    CHECK(write_all(fd, wire.data(), wire.size()));
    CHECK(h.read_http_response(fd).find("HTTP/1.1 400 ") == 0);
    CHECK(h.eof(fd));
    close(fd);
  }
  CHECK_EQ(h.count(WsEventType::kRequest), 0);
  CHECK_EQ(h.count(WsEventType::kRefused), 2);
  h.finish();
}

void a_slow_consumer_is_closed_with_1013() {
  Harness h(64 * 1024);
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  set_rcvbuf(fd, 4096);
  int small = 4096;
  setsockopt(h.engine.fd_of(conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string payload(8192, 'p');
  for (int i = 0; i < 64; i++) {
    h.send(conn, ws::Opcode::kBinary, payload.data(), payload.size());
    h.turn();
  }
  CHECK(h.until([&] { return h.engine.stats().overflows == 1; }));
  // Reading now: whole frames, then the 1013 close frame, then FIN.
  std::string all;
  char buf[65536];
  CHECK(h.until([&] {
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) all.append(buf, static_cast<size_t>(r));
    return r == 0;
  }));
  std::string frame = server_frame(ws::Opcode::kBinary, payload);
  std::string bye = close_frame(ws::kCloseTryAgainLater, "slow consumer: outbound limit exceeded");
  size_t body = all.size() >= bye.size() ? all.size() - bye.size() : 0;
  CHECK_EQ(body % frame.size(), 0);
  CHECK(all.substr(0, frame.size()) == frame);
  CHECK(all.substr(body) == bye);
  close(fd);  // ends the server's lingering close
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }));
  CHECK_EQ(h.last(WsEventType::kClosed)->code, ws::kCloseTryAgainLater);
  h.finish();
}

void a_reset_mid_frame_ends_with_1006() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string frame = client_frame(ws::Opcode::kText, std::string(1000, 'x'));
  CHECK(write_all(fd, frame.data(), frame.size() / 2));  // half a frame, then RST
  h.until([&] { return false; }, 50);
  abort_socket(fd);
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }));
  CHECK_EQ(h.last(WsEventType::kClosed)->code, ws::kCloseAbnormal);
  CHECK_EQ(h.count(WsEventType::kMessage), 0);
  h.finish();
}

// Random bytes, before and after a valid upgrade, from many clients at once: every connection
// ends (answered or closed), nothing crashes under the sanitizers, and nothing leaks.
void random_bytes_never_break_the_server() {
  Harness h;
  h.on_event = [&](const WsEvent& e) {
    if (e.type != WsEventType::kRequest) return;
    if (e.upgrade) {
      h.server->accept_upgrade(e.conn);
    } else {
      h.server->respond(e.conn, "HTTP/1.1 204 No Content\r\n\r\n", 25, true);
    }
  };
  uint32_t seed = 12345;
  auto rnd = [&] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
  };
  std::vector<int> fds;
  for (int i = 0; i < 40; i++) {
    int fd = connect_client(h.port);
    std::string bytes = i % 2 ? std::string(kUpgrade) : std::string();
    size_t n = 16 + rnd() % 4000;
    for (size_t k = 0; k < n; k++) bytes += static_cast<char>(rnd());
    if (i % 4 == 1) bytes += client_frame(ws::Opcode::kText, "tail");
    write_all(fd, bytes.data(), bytes.size());
    fds.push_back(fd);
    h.turn();
  }
  h.until([&] { return false; }, 300);
  for (int fd : fds) close(fd);
  h.finish();
}

void shutdown_closes_every_websocket_with_1001() {
  Harness h;
  std::vector<int> fds;
  std::vector<ConnId> conns(3);
  for (ConnId& c : conns) fds.push_back(open_websocket(h, &c));
  int http = connect_client(h.port);  // connected, no request yet
  CHECK(h.until([&] { return h.server->live_sessions() == 4; }));
  CHECK_EQ(h.server->shutdown(), 4);
  h.server->flush();
  std::string bye = close_frame(ws::kCloseGoingAway, "going away");
  for (int fd : fds) {
    CHECK(h.read_n(fd, bye.size()) == bye);
    CHECK(h.eof(fd));
  }
  CHECK(h.eof(http));
  CHECK(connect_client(h.port) < 0);  // no longer listening
  for (int fd : fds) close(fd);       // the clients' FINs end the servers' lingering closes
  close(http);
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 4; }));
  h.finish();
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  upgrade_then_messages_both_ways();
  a_fanout_skips_the_excluded_id_and_gives_deflate_connections_their_frame();
  ping_is_answered_natively();
  a_fragmented_message_split_byte_by_byte_is_assembled();
  a_client_close_is_echoed_then_fin();
  invalid_utf8_closes_with_1007();
  a_bad_version_gets_426_and_a_rejected_upgrade_its_status();
  plain_http_keeps_alive_across_pipelined_requests();
  a_chunked_body_arriving_in_pieces_is_decoded_then_the_next_request_served();
  a_bad_chunked_body_gets_400_and_a_chunked_upgrade_too();
  a_slow_consumer_is_closed_with_1013();
  a_reset_mid_frame_ends_with_1006();
  random_bytes_never_break_the_server();
  shutdown_closes_every_websocket_with_1001();
  return report();
}
