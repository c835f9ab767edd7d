// Sockets and the event loop: readiness from epoll, reads parsed in place, writes queued per
// connection and flushed when the kernel takes them.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include "clock.h"
#include "frame_writer.h"
#include "generator.h"
#include "handshake.h"
#include "sha1.h"

namespace loadgen {
namespace {

// One read takes up to this much: enough for 16 frames of 16 KiB, or thousands of small ones.
constexpr size_t kReadBuffer = 256 * 1024;
constexpr int kMaxEvents = 1024;

}  // namespace

void Connection::on_message(Opcode op, const uint8_t* data, size_t len, bool compressed) {
  if (op != Opcode::Text) return;
  if (compressed) return gen_.on_compressed_text(*this, data, len);
  gen_.on_text(*this, data, len);
}

void Connection::on_control(Opcode op, const uint8_t* data, size_t len) {
  if (op == Opcode::Ping) gen_.on_ping(*this, data, len);
  if (op == Opcode::Close) gen_.on_close_frame(*this, data, len);
}

bool Generator::setup_epoll() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  read_buf_.resize(kReadBuffer);
  return epfd_ >= 0;
}

void Generator::poll_once(uint64_t timeout_ns) {
  epoll_event events[kMaxEvents];
  timespec ts{time_t(timeout_ns / 1000000000ull), long(timeout_ns % 1000000000ull)};
  // epoll_pwait2 takes a timespec: open-loop pacing needs better than 1 ms granularity.
  int n = epoll_pwait2(epfd_, events, kMaxEvents, &ts, nullptr);
  if (n < 0 && errno == ENOSYS) n = epoll_wait(epfd_, events, kMaxEvents, int(timeout_ns / 1000000));
  for (int i = 0; i < n; i++) {
    Connection& c = *conns_[events[i].data.u32];
    if (c.state != ConnState::Closed) handle_event(c, events[i].events);
  }
}

void Generator::handle_event(Connection& c, uint32_t events) {
  if (c.state == ConnState::Connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
  if (c.state != ConnState::Closed && (events & EPOLLOUT)) flush(c);
}

void Generator::on_connected(Connection& c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return fail(c, std::string("connect: ") + std::strerror(err));
  std::string key = make_websocket_key(c.index + 1);
  c.expected_accept = websocket_accept(key);
  c.state = ConnState::Handshaking;
  c.out = build_upgrade_request(endpoint_of(c).host_port, request_target(c), key,
                                opts_.deflate ? kDeflateOffer : "");
  flush(c);
  update_interest(c);
}

void Generator::on_readable(Connection& c) {
  ssize_t n = recv(c.fd, read_buf_.data(), read_buf_.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    if (c.state == ConnState::Open) stats_.closed_by_server++;
    return fail(c, n == 0 ? "closed by server" : std::string("recv: ") + std::strerror(errno));
  }
  stats_.bytes_in += uint64_t(n);
  read_now_ns_ = now_ns();
  if (c.state == ConnState::Handshaking) return on_handshake_bytes(c, read_buf_.data(), size_t(n));
  ParseStatus st = c.parser.feed(read_buf_.data(), size_t(n), c);
  if (st != ParseStatus::Ok && c.state != ConnState::Closed) {
    fail(c, std::string("bad frame from server: ") + parse_status_name(st));
  }
}

void Generator::on_handshake_bytes(Connection& c, const uint8_t* data, size_t len) {
  c.head.append(reinterpret_cast<const char*>(data), len);
  HandshakeResult r = check_upgrade_response(c.head.data(), c.head.size(), c.expected_accept);
  if (r.state == HandshakeResult::Incomplete) return;
  if (r.state == HandshakeResult::Rejected) return fail(c, "handshake: " + r.error);
  std::string rest = c.head.substr(r.header_bytes);
  if (opts_.deflate && offers_deflate(c.head.data(), r.header_bytes)) c.parser.allow_compressed();
  std::string().swap(c.head);
  became_open(c);
  // A server may send frames right behind the 101 (e.g. an ack); they belong to the parser.
  if (!rest.empty()) {
    ParseStatus st = c.parser.feed(reinterpret_cast<const uint8_t*>(rest.data()), rest.size(), c);
    if (st != ParseStatus::Ok) fail(c, std::string("bad frame from server: ") + parse_status_name(st));
  }
}

// A compressed message: inflated by the one shared inflater (no context between messages),
// then read like a plain one; its wire size is what bytes_in counted.
void Generator::on_compressed_text(Connection& c, const uint8_t* data, size_t len) {
  stats_.compressed++;
  if (!inflater_.inflate(data, len, inflated_)) return fail(c, "corrupt compressed message from server");
  on_text(c, inflated_.data(), inflated_.size());
}

void Generator::send_frame(Connection& c, Opcode op, const char* data, size_t len) {
  append_client_frame(c.out, op, data, len, uint32_t(next_serial_ * 2654435761u) ^ c.index);
  flush(c);
}

void Generator::flush(Connection& c) {
  while (c.out_sent < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return fail(c, std::string("send: ") + std::strerror(errno));
    }
    c.out_sent += size_t(n);
  }
  if (c.out_sent == c.out.size()) {
    c.out.clear();
    c.out_sent = 0;
  }
  update_interest(c);
}

void Generator::update_interest(Connection& c) {
  bool want_write = c.state == ConnState::Connecting || c.out_sent < c.out.size();
  if (want_write == c.write_armed) return;
  epoll_event ev{};
  ev.events = want_write ? EPOLLIN | EPOLLOUT : EPOLLIN;
  ev.data.u32 = c.index;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.write_armed = want_write;
}

void Generator::fail(Connection& c, const std::string& why) {
  if (c.state == ConnState::Closed) return;
  if (c.state == ConnState::Connecting || c.state == ConnState::Handshaking) connecting_--;
  if (c.state == ConnState::Open) open_--;
  if (c.ready) ready_--;
  c.ready = false;
  failed_++;
  if (first_failure_.empty()) first_failure_ = why;
  c.state = ConnState::Closed;
  close(c.fd);
  c.fd = -1;
  std::string().swap(c.out);
  c.out_sent = 0;
}

void Generator::on_ping(Connection& c, const uint8_t* data, size_t len) {
  send_frame(c, Opcode::Pong, reinterpret_cast<const char*>(data), len);
}

void Generator::on_close_frame(Connection& c, const uint8_t* data, size_t len) {
  unsigned code = len >= 2 ? (unsigned(data[0]) << 8) | data[1] : 1005;
  stats_.closed_by_server++;
  fail(c, "server sent close " + std::to_string(code));
}

}  // namespace loadgen
