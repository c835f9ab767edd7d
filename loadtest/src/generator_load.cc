// Publishing (closed loop: a window per publisher; open loop: a fixed rate) and accounting for
// what comes back: acks, errors, deliveries with their latency and seq.
#include <cstring>

#include "clock.h"
#include "frame_writer.h"
#include "generator.h"
#include "server_message.h"

namespace loadgen {
namespace {

// An open-loop publisher whose unsent bytes pass this is not being read by the server; more
// publishes would only measure our memory.
constexpr size_t kMaxBacklog = 64 << 20;

}  // namespace

void Generator::on_text(Connection& c, const uint8_t* data, size_t len) {
  if (c.state == ConnState::Closed) return;
  ServerMessage m;
  if (!scan_server_message(reinterpret_cast<const char*>(data), len, m)) {
    stats_.unexpected++;
    return;
  }
  if (m.kind == ServerMessage::Msg) {
    if (c.role != Role::Subscriber) {
      stats_.unexpected++;
      return;
    }
    SeqEvent e = c.seq.observe(m.seq);
    if (e == SeqEvent::Gap) stats_.gaps++;
    if (e == SeqEvent::Duplicate) {
      stats_.duplicates++;
      return;
    }
    if (e == SeqEvent::Reordered) stats_.reordered++;
    if (!m.has_stamp) {
      stats_.unstamped++;
      return;
    }
    on_delivery(c, m.serial - PublishMessage::kSerialBase, m.sent_ns - PublishMessage::kStampBase);
    return;
  }
  if (m.kind == ServerMessage::Err) {
    stats_.errors++;
    if (stats_.first_error.empty())
      stats_.first_error.assign(reinterpret_cast<const char*>(data), len < 200 ? len : 200);
    if (!c.ready && c.role == Role::Subscriber) fail(c, "sub refused: " + stats_.first_error);
    return;
  }
  if (m.has_id && m.id < PublishMessage::kSerialBase) {
    if (!c.ready && c.role == Role::Subscriber) {
      c.ready = true;
      ready_++;
    }
    return;
  }
  stats_.acks++;
}

void Generator::on_delivery(Connection& c, uint64_t serial, uint64_t sent_ns) {
  (void)c;
  stats_.deliveries++;
  uint64_t latency = read_now_ns_ - t0_ns_ > sent_ns ? read_now_ns_ - t0_ns_ - sent_ns : 0;
  if (phase_ == Phase::Measure) {
    stats_.deliveries_window++;
    stats_.latency.record(latency);
  }
  stats_.deliveries_tick++;
  stats_.latency_tick.record(latency);
  if (opts_.mode != Mode::Closed) return;
  auto it = pending_.find(serial);
  if (it == pending_.end()) return;  // given up already, or not ours
  if (--it->second.remaining == 0) {
    conns_[it->second.publisher]->in_flight--;
    pending_.erase(it);
  }
}

void Generator::send_batch(Connection& pub, size_t count, uint64_t sent) {
  size_t topic = pub.next_topic;
  pub.next_topic = (pub.next_topic + 1) % messages_.size();
  for (size_t i = 0; i < count; i++) {
    uint64_t serial = next_serial_++;
    const std::string& text = messages_[topic].build(sent, serial);
    append_client_frame(pub.out, Opcode::Text, text.data(), text.size(), uint32_t(serial * 2654435761u));
    sent_on_[topic]++;
    stats_.publishes++;
    if (phase_ == Phase::Measure) stats_.publishes_window++;
    if (opts_.mode == Mode::Closed) {
      pending_[serial] = Pending{pub.index, subscribers_on_[topic], sent};
      pub.in_flight++;
    }
  }
  // One write per batch: a server that reads 8 publishes at once can gather their fanout.
  flush(pub);
}

void Generator::refill_closed_loop() {
  if (!publishing_ || opts_.mode != Mode::Closed) return;
  size_t batch = opts_.batch < opts_.window ? opts_.batch : opts_.window;
  for (size_t i = opts_.subscribers; i < conns_.size(); i++) {
    Connection& pub = *conns_[i];
    while (pub.state == ConnState::Open && pub.in_flight + batch <= opts_.window) {
      send_batch(pub, batch, now_ns() - t0_ns_);
    }
  }
}

void Generator::pace_open_loop() {
  if (!publishing_ || opts_.mode != Mode::Open) return;
  uint64_t due = uint64_t(opts_.rate * double(now_ns() - load_start_ns_) / 1e9);
  size_t publishers = conns_.size() - opts_.subscribers;
  while (open_loop_sent_ + opts_.batch <= due) {
    Connection& pub = *conns_[opts_.subscribers + next_publisher_];
    next_publisher_ = (next_publisher_ + 1) % publishers;
    open_loop_sent_ += opts_.batch;
    if (pub.state != ConnState::Open || pub.out.size() > kMaxBacklog) {
      stats_.publish_backlogged += opts_.batch;
      continue;
    }
    // Stamp with when the schedule said to send, not when we got to it: a late send must show
    // up as latency rather than quietly thin out the samples (coordinated omission).
    uint64_t intended = load_start_ns_ + uint64_t(double(open_loop_sent_) * 1e9 / opts_.rate);
    send_batch(pub, opts_.batch, intended - t0_ns_);
  }
}

void Generator::expire_publishes() {
  uint64_t limit = seconds_to_ns(opts_.publish_timeout);
  uint64_t now = now_ns() - t0_ns_;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.sent_ns > limit) {
      conns_[it->second.publisher]->in_flight--;
      stats_.publish_timeouts++;
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

uint64_t Generator::expected_deliveries() const {
  uint64_t total = 0;
  for (size_t t = 0; t < sent_on_.size(); t++) total += sent_on_[t] * subscribers_on_[t];
  return total;
}

bool Generator::drained() const {
  if (opts_.mode == Mode::Closed) return pending_.empty();
  return stats_.deliveries >= expected_deliveries();
}

uint64_t Generator::final_lost() const {
  // Every publish went out after every subscription was ready, so each subscriber of a topic
  // must have seen each of its publishes exactly once; what is missing after the drain is lost.
  uint64_t lost = 0;
  for (size_t i = 0; i < opts_.subscribers; i++) {
    const Connection& c = *conns_[i];
    uint64_t want = sent_on_[c.topic];
    lost += want > c.seq.distinct() ? want - c.seq.distinct() : 0;
  }
  return lost;
}

}  // namespace loadgen
