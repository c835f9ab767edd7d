// Opening the connections and subscribing them, a bounded number of handshakes at a time.
#include <sys/epoll.h>
#include <unistd.h>
#include <cstring>

#include "clock.h"
#include "generator.h"

namespace loadgen {

Generator::Generator(const Options& opts, const Endpoint& ep, const Endpoint& pub_ep)
    : opts_(opts), ep_(ep), pub_ep_(pub_ep) {
  source_ips_ = opts.source_ips >= 0 ? opts.source_ips : (ep.loopback && pub_ep.loopback ? 254 : 0);
  size_t topics = opts.topics;
  subscribers_on_.assign(topics, 0);
  sent_on_.assign(topics, 0);
  for (size_t t = 0; t < topics; t++) {
    messages_.emplace_back(opts.topic_prefix + "-" + std::to_string(t), opts.size, opts.chat);
  }
  size_t pubs = opts.mode == Mode::Idle ? 0 : opts.publishers;
  for (size_t i = 0; i < opts.subscribers; i++) {
    uint32_t topic = uint32_t(i % topics);
    subscribers_on_[topic]++;
    conns_.emplace_back(new Connection(*this, uint32_t(i), Role::Subscriber, topic));
  }
  for (size_t p = 0; p < pubs; p++) {
    auto* c = new Connection(*this, uint32_t(conns_.size()), Role::Publisher, 0);
    c->next_topic = p % topics;  // publishers start on different topics
    conns_.emplace_back(c);
  }
  t0_ns_ = now_ns();
}

Generator::~Generator() {
  for (auto& c : conns_) {
    if (c->fd >= 0) close(c->fd);
  }
  if (epfd_ >= 0) close(epfd_);
}

const Endpoint& Generator::endpoint_of(const Connection& c) const {
  return c.role == Role::Publisher ? pub_ep_ : ep_;
}

std::string Generator::request_target(const Connection& c) const {
  if (c.role != Role::Subscriber || opts_.subscribe == SubscribeVia::Op) return endpoint_of(c).target;
  char sep = ep_.target.find('?') == std::string::npos ? '?' : '&';
  return ep_.target + sep + "topics=" + opts_.topic_prefix + "-" + std::to_string(c.topic);
}

void Generator::open_more() {
  while (next_to_open_ < conns_.size() && connecting_ < opts_.connect_concurrency) {
    Connection& c = *conns_[next_to_open_++];
    int source = source_ips_ > 0 ? 1 + int(c.index % unsigned(source_ips_)) : 0;
    int fd = start_connect(endpoint_of(c), source);
    if (fd < 0) {
      failed_++;
      c.state = ConnState::Closed;
      if (first_failure_.empty()) first_failure_ = std::string("socket/connect: ") + std::strerror(-fd);
      continue;
    }
    c.fd = fd;
    c.state = ConnState::Connecting;
    c.write_armed = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = c.index;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    connecting_++;
  }
}

void Generator::became_open(Connection& c) {
  c.state = ConnState::Open;
  connecting_--;
  open_++;
  bool needs_ack = c.role == Role::Subscriber && opts_.subscribe != SubscribeVia::Query;
  if (needs_ack) {
    // id 1 is below every publish id (those start at 10^9), so its ack is told apart.
    std::string sub =
        "{\"op\":\"sub\",\"topic\":\"" + opts_.topic_prefix + "-" + std::to_string(c.topic) + "\",\"id\":1}";
    send_frame(c, Opcode::Text, sub.data(), sub.size());
  } else {
    c.ready = true;
    ready_++;
  }
}

bool Generator::connect_phase() {
  enter(Phase::Connect);
  uint64_t deadline = phase_start_ns_ + seconds_to_ns(opts_.connect_timeout);
  bool tolerant = opts_.mode == Mode::Idle;  // idle reports how many it could hold
  while (open_ + failed_ < conns_.size()) {
    open_more();
    if (!tolerant && failed_ > 0) {
      error_ = "connect: " + std::to_string(failed_) + " of " + std::to_string(conns_.size()) +
               " connections failed (first: " + first_failure_ + ")";
      return false;
    }
    if (now_ns() > deadline) {
      error_ = "connect phase timed out after " + std::to_string(int(opts_.connect_timeout)) +
               " s: " + std::to_string(open_) + " of " + std::to_string(conns_.size()) + " open";
      return false;
    }
    poll_once(10000000);
    maybe_progress();
    if (stop_requested()) break;
  }
  connect_ns_ = now_ns() - phase_start_ns_;
  return true;
}

bool Generator::subscribe_phase() {
  enter(Phase::Subscribe);
  uint64_t deadline = phase_start_ns_ + seconds_to_ns(opts_.subscribe_timeout);
  bool tolerant = opts_.mode == Mode::Idle;
  while (ready_ < open_ || (!tolerant && ready_ < conns_.size())) {
    if (!tolerant && failed_ > 0) {
      error_ =
          "subscribe: " + std::to_string(failed_) + " connections failed (first: " + first_failure_ + ")";
      return false;
    }
    if (now_ns() > deadline) {
      error_ = "subscribe phase timed out after " + std::to_string(int(opts_.subscribe_timeout)) +
               " s: " + std::to_string(ready_) + " of " + std::to_string(conns_.size()) + " ready";
      return false;
    }
    poll_once(10000000);
    maybe_progress();
    if (stop_requested()) break;
  }
  subscribe_ns_ = now_ns() - phase_start_ns_;
  return true;
}

}  // namespace loadgen
