// The connection lifecycle against a client that tries: what an event points to outlives
// whatever the connection does next, every byte before a FIN or RST is handled and answered,
// the server's own frames keep their place, closes linger instead of resetting and end by a
// deadline, accept survives a full SQ, and an idle connection is small again after a large
// message. Each case is a reproduction of a bug found by an independent review.
#include <sys/resource.h>

#include <string>
#include <vector>

#include "session_harness.h"

using namespace ringcast;
using namespace enginetest;

namespace {

const char kGet[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
const char kNoContent[] = "HTTP/1.1 204 No Content\r\n\r\n";

// Every plain request is answered 204 (keep-alive), every upgrade accepted.
void answer_everything(Harness& h) {
  h.on_event = [&h](const WsEvent& e) {
    if (e.type != WsEventType::kRequest) return;
    if (e.upgrade) {
      h.server->accept_upgrade(e.conn);
    } else {
      h.server->respond(e.conn, kNoContent, sizeof kNoContent - 1, true);
    }
  };
}

// Reads until the peer's FIN (or error / timeout) while turning the server. *err: errno of a
// failed recv (ECONNRESET for a reset), 0 after a clean FIN.
std::string read_to_end(Harness& h, int fd, int* err = nullptr, double ms = 5000) {
  std::string out;
  char buf[65536];
  int e = ETIMEDOUT;
  h.until(
      [&] {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) out.append(buf, static_cast<size_t>(r));
        if (r == 0) e = 0;
        if (r < 0 && errno != EAGAIN) e = errno;
        return r == 0 || (r < 0 && errno != EAGAIN);
      },
      ms);
  if (err) *err = e;
  return out;
}

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) n++;
  return n;
}

// Server frames (unmasked) in a byte stream: opcode and payload of each whole frame.
struct ServerFrame {
  uint8_t opcode;
  std::string payload;
};
std::vector<ServerFrame> split_frames(const std::string& s) {
  std::vector<ServerFrame> out;
  size_t at = 0;
  while (at + 2 <= s.size()) {
    uint8_t op = static_cast<uint8_t>(s[at]) & 0x0f;
    uint64_t len = static_cast<uint8_t>(s[at + 1]) & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (at + 4 > s.size()) break;
      len = (uint64_t(uint8_t(s[at + 2])) << 8) | uint8_t(s[at + 3]);
      h = 4;
    } else if (len == 127) {
      if (at + 10 > s.size()) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | uint8_t(s[at + 2 + i]);
      h = 10;
    }
    if (at + h + len > s.size()) break;
    out.push_back({op, s.substr(at + h, len)});
    at += h + len;
  }
  return out;
}

// Pipelined requests and the client's FIN in quick succession: the FIN used to free the
// session while the batch still pointed into it (SIGSEGV within ~50 tries; 1-3 with a large
// POST first). Every request is answered, then the server closes.
void pipelined_requests_then_fin_are_all_answered() {
  Harness h;
  answer_everything(h);
  std::string body(200 * 1024, 'b');
  const std::string post =
      "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
      body;
  int answered = 0;
  for (int i = 0; i < 60; i++) {
    int fd = connect_client(h.port);
    std::string two = (i % 3 == 0 ? post : std::string(kGet)) + kGet;
    CHECK(write_all(fd, two.data(), two.size()));
    if (i % 3) usleep(static_cast<useconds_t>((i % 3) * 1000));
    shutdown(fd, SHUT_WR);
    answered += count_of(read_to_end(h, fd), "HTTP/1.1 204") == 2;
    close(fd);
  }
  CHECK_EQ(answered, 60);
  h.finish();
}

// A POST body followed in the same write by more bytes: the bytes after it used to be appended
// to the buffer the body event pointed into (and the JavaScript side read "400 not UTF-8").
void a_request_body_stays_whole_when_more_bytes_follow() {
  Harness h;
  std::string body(100 * 1024, '\0');
  for (size_t i = 0; i < body.size(); i++) body[i] = static_cast<char>('a' + i % 26);
  std::string req = "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body + std::string(40 * 1024, 'z');
  answer_everything(h);
  for (int i = 0; i < 10; i++) {
    int fd = connect_client(h.port);
    size_t requests = h.count(WsEventType::kRequest);
    CHECK(write_all(fd, req.data(), req.size()));
    CHECK(h.until([&] { return h.count(WsEventType::kRequest) == requests + 1; }));
    CHECK(h.last_payload(WsEventType::kRequest) == body);  // copied when the batch was walked
    close(fd);
  }
  h.finish();
}

void a_half_closed_request_is_answered() {
  Harness h;
  answer_everything(h);
  int answered = 0;
  for (int i = 0; i < 20; i++) {
    int fd = connect_client(h.port);
    CHECK(write_all(fd, kGet, sizeof kGet - 1));
    shutdown(fd, SHUT_WR);
    answered += read_to_end(h, fd).find("HTTP/1.1 204") == 0;
    close(fd);
  }
  CHECK_EQ(answered, 20);
  h.finish();
}

// A message, a Close and the FIN in one write: the message is surfaced, its reply goes out,
// then the echoed Close, then the server's FIN.
void a_message_close_and_fin_in_one_write() {
  for (int i = 0; i < 20; i++) {
    Harness h;
    ConnId conn = 0;
    int fd = open_websocket(h, &conn);
    h.on_event = [&](const WsEvent& e) {
      if (e.type == WsEventType::kMessage) h.send(conn, ws::Opcode::kText, "ack", 3);
    };
    std::string bytes = client_frame(ws::Opcode::kText, "pub") +
                        client_frame(ws::Opcode::kClose, close_frame(ws::kCloseNormal).substr(2));
    CHECK(write_all(fd, bytes.data(), bytes.size()));
    shutdown(fd, SHUT_WR);
    std::vector<ServerFrame> got = split_frames(read_to_end(h, fd));
    CHECK_EQ(h.count(WsEventType::kMessage), 1);
    CHECK_EQ(got.size(), 2);
    if (got.size() == 2) {
      CHECK(got[0].opcode == 0x1 && got[0].payload == "ack");
      CHECK(got[1].opcode == 0x8 && got[1].payload == close_frame(ws::kCloseNormal).substr(2));
    }
    close(fd);
    h.finish();
  }
}

// A message and a frame that fails the connection in one read: the reply to the message goes
// out before the server's Close (RFC 6455 5.5.1: no data frame after a Close).
void replies_go_before_the_close_for_every_failing_frame() {
  struct Bad {
    const char* name;
    std::string bytes;
    uint16_t code;
  };
  std::string rsv = client_frame(ws::Opcode::kText, "x");
  rsv[0] = static_cast<char>(rsv[0] | 0x40);
  std::string reserved_op = client_frame(static_cast<ws::Opcode>(0x3), "x");
  std::string bad_code = client_frame(ws::Opcode::kClose, std::string("\x03\xe7", 2));  // 999
  std::string stray = client_frame(ws::Opcode::kContinuation, "x");
  std::string split_ping = client_frame(ws::Opcode::kPing, "x", /*fin=*/false);
  std::string unmasked = server_frame(ws::Opcode::kText, "x");
  const Bad bads[] = {{"reserved bit", rsv, 1002},           {"reserved opcode", reserved_op, 1002},
                      {"bad close code", bad_code, 1002},    {"stray continuation", stray, 1002},
                      {"fragmented ping", split_ping, 1002}, {"unmasked", unmasked, 1002}};
  for (const Bad& bad : bads) {
    Harness h;
    ConnId conn = 0;
    int fd = open_websocket(h, &conn);
    h.on_event = [&](const WsEvent& e) {
      if (e.type == WsEventType::kMessage) h.send(conn, ws::Opcode::kText, "ack", 3);
    };
    std::string bytes =
        client_frame(ws::Opcode::kText, "one") + client_frame(ws::Opcode::kText, "two") + bad.bytes;
    CHECK(write_all(fd, bytes.data(), bytes.size()));
    std::vector<ServerFrame> got = split_frames(read_to_end(h, fd));
    bool ok = got.size() == 3 && got[0].payload == "ack" && got[1].payload == "ack" && got[2].opcode == 0x8 &&
              got[2].payload.size() >= 2 &&
              ((uint8_t(got[2].payload[0]) << 8) | uint8_t(got[2].payload[1])) == bad.code;
    if (!ok) std::fprintf(stderr, "replies before the close: %s: %zu frames\n", bad.name, got.size());
    CHECK(ok);
    close(fd);
    h.finish();
  }
}

// msg, ping, msg in one write: reply, pong, reply: the pong keeps its place.
void a_pong_keeps_its_place_between_replies() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  h.on_event = [&](const WsEvent& e) {
    if (e.type == WsEventType::kMessage) {
      std::string r = "re:" + std::string(reinterpret_cast<const char*>(e.data), e.len);
      h.send(conn, ws::Opcode::kText, r.data(), r.size());
    }
  };
  std::string bytes = client_frame(ws::Opcode::kText, "1") + client_frame(ws::Opcode::kPing, "p") +
                      client_frame(ws::Opcode::kText, "2");
  CHECK(write_all(fd, bytes.data(), bytes.size()));
  std::string want = server_frame(ws::Opcode::kText, "re:1") + server_frame(ws::Opcode::kPong, "p") +
                     server_frame(ws::Opcode::kText, "re:2");
  CHECK(h.read_n(fd, want.size()) == want);
  close(fd);
  h.finish();
}

// A frame that fails the connection, sent one byte per write: the client keeps writing after
// the server decided to close. The server half-closes and drains instead of closing a socket
// with unread bytes (which sends RST), so the client reads the Close and a FIN.
void a_failing_frame_sent_byte_by_byte_gets_a_close_not_a_reset() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string bad = client_frame(ws::Opcode::kText, std::string(200, 'x'));
  bad[0] = static_cast<char>(bad[0] | 0x20);  // RSV2
  for (char c : bad) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
    h.turn();
  }
  int err = -1;
  std::vector<ServerFrame> got = split_frames(read_to_end(h, fd, &err));
  CHECK_EQ(err, 0);  // a FIN, not ECONNRESET
  CHECK_EQ(got.size(), 1);
  CHECK(!got.empty() && got[0].opcode == 0x8);
  close(fd);
  h.finish();
}

// Bytes the client sent right before its RST are still handled.
void bytes_before_a_reset_are_delivered() {
  Harness h;
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string bytes = client_frame(ws::Opcode::kText, "last words");
  CHECK(write_all(fd, bytes.data(), bytes.size()));
  abort_socket(fd);
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }));
  CHECK_EQ(h.count(WsEventType::kMessage), 1);
  CHECK(h.last_payload(WsEventType::kMessage) == "last words");
  h.finish();
}

// A slow consumer closed with 1013 that never reads: aborted at the close timeout, its queued
// frames released, counted in close_timeouts.
void a_peer_that_never_reads_is_aborted_at_the_close_timeout() {
  Harness h(64 * 1024, /*close_timeout_ms=*/300);
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  set_rcvbuf(fd, 4096);
  int small = 4096;
  setsockopt(h.engine.fd_of(conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string payload(8192, 'p');
  for (int i = 0; i < 64 && h.engine.stats().overflows == 0; i++) {
    h.send(conn, ws::Opcode::kBinary, payload.data(), payload.size());
    h.turn();
  }
  CHECK(h.until([&] { return h.count(WsEventType::kOverflow) == 1; }));
  double closing = now_ms();
  CHECK(h.until([&] { return h.count(WsEventType::kClosed) == 1; }, 3000));
  double took = now_ms() - closing;
  std::printf("never-reading peer aborted %.0f ms after its 1013 (close timeout 300 ms)\n", took);
  CHECK(took >= 250);
  CHECK_EQ(h.engine.stats().close_timeouts, 1);
  CHECK_EQ(h.last(WsEventType::kClosed)->code, ws::kCloseTryAgainLater);
  CHECK(h.until([&] { return h.engine.stats().live_frames == 0 && h.engine.stats().bytes_queued == 0; }));
  int err = -1;
  read_to_end(h, fd, &err, 2000);
  CHECK_EQ(err, ECONNRESET);
  close(fd);
  h.finish();
}

// The outbound limit passed and, in the same turn, the layer above closes: one Close frame.
void one_close_frame_when_an_overflow_races_a_close() {
  Harness h(64 * 1024);
  ConnId conn = 0;
  int fd = open_websocket(h, &conn);
  std::string payload(16 * 1024, 'p');
  int r = 0;
  for (int i = 0; i < 16 && r == 0; i++)
    r = h.send(conn, ws::Opcode::kBinary, payload.data(), payload.size());
  CHECK_EQ(r, -ENOBUFS);  // kOverflow is on its way to the next poll
  CHECK_EQ(h.server->close(conn, ws::kCloseNormal, "bye"), 0);
  CHECK_EQ(h.server->close(conn, ws::kCloseNormal, "again"), -EALREADY);
  h.server->flush();
  size_t closes = 0;
  for (const ServerFrame& f : split_frames(read_to_end(h, fd))) closes += f.opcode == 0x8;
  CHECK_EQ(closes, 1);
  close(fd);
  h.finish();
}

// An HTTP answer past the outbound limit ends the connection without a WebSocket frame.
void an_http_answer_past_the_limit_gets_no_websocket_frame() {
  Harness h(4096);
  std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 8192\r\n\r\n" + std::string(8192, 'a');
  int status = 0;
  h.on_event = [&](const WsEvent& e) {
    if (e.type == WsEventType::kRequest)
      status = h.server->respond(e.conn, answer.data(), answer.size(), true);
  };
  int fd = connect_client(h.port);
  CHECK(write_all(fd, kGet, sizeof kGet - 1));
  std::string got = read_to_end(h, fd);
  CHECK_EQ(status, -ENOBUFS);
  CHECK(got.find('\x88') == std::string::npos);
  close(fd);
  h.finish();
}

// No SQE for the accept (SQ full, the submit that would make room refused): accepting resumes
// at the next flush instead of stopping for good.
void accept_is_rearmed_when_no_sqe_can_be_had() {
  Harness h;
  Engine e;
  EngineConfig cfg;
  cfg.max_slots = 16;
  CHECK_EQ(e.init(cfg), 0);
  e.ring_for_test().inject_sqe_failures(3);  // listen()'s accept, then two flushes
  int port = e.listen("127.0.0.1", 0);
  CHECK(port > 0);
  int fd = connect_client(port);
  size_t opened = 0;
  CHECK(pump(
      e, [&](const Event& ev) { opened += ev.type == EventType::kOpen; }, [&] { return opened == 1; }));
  CHECK(e.stats().accept_rearms >= 1);
  close(fd);
  CHECK(pump(
      e, [](const Event&) {}, [&] { return e.stats().live_slots == 0; }));
  check_quiet(e);
  h.finish();
}

// Sixty connections each send one 1 MiB message in fragments (assembled across receives):
// once it is delivered, the connections hold no assembly buffer (they held ~1.5 MiB each).
void idle_connections_hold_no_message_buffer() {
  Harness h(8u << 20);
  std::vector<int> fds;
  std::vector<ConnId> conns(60);
  for (ConnId& c : conns) fds.push_back(open_websocket(h, &c));
  const size_t base = h.server->buffered_bytes();
  std::string part(64 * 1024, 'm');
  std::string message;
  for (int i = 0; i < 16; i++) {
    message += client_frame(i == 0 ? ws::Opcode::kBinary : ws::Opcode::kContinuation, part, i == 15);
  }
  size_t peak = 0;
  for (int fd : fds) {
    CHECK(write_all(fd, message.data(), message.size()));
    h.turn();
    peak = std::max(peak, h.server->buffered_bytes());
  }
  CHECK(h.until([&] { return h.count(WsEventType::kMessage) == fds.size(); }, 20000));
  h.turn();
  const size_t idle = h.server->buffered_bytes();
  std::printf("60 x 1 MiB messages: session buffers %zu B before, %zu B peak, %zu B idle after\n", base, peak,
              idle);
  CHECK(idle <= base + 60 * 1024);
  for (int fd : fds) close(fd);
  h.finish();
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  pipelined_requests_then_fin_are_all_answered();
  a_request_body_stays_whole_when_more_bytes_follow();
  a_half_closed_request_is_answered();
  a_message_close_and_fin_in_one_write();
  replies_go_before_the_close_for_every_failing_frame();
  a_pong_keeps_its_place_between_replies();
  a_failing_frame_sent_byte_by_byte_gets_a_close_not_a_reset();
  bytes_before_a_reset_are_delivered();
  a_peer_that_never_reads_is_aborted_at_the_close_timeout();
  one_close_frame_when_an_overflow_races_a_close();
  an_http_answer_past_the_limit_gets_no_websocket_frame();
  accept_is_rearmed_when_no_sqe_can_be_had();
  idle_connections_hold_no_message_buffer();
  return report();
}
