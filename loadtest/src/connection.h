// One client connection: its socket, where it is in the handshake, its outbound bytes and its
// frame parser. The generator owns the behaviour; this is the state it keeps per socket.
#pragma once
#include <cstdint>
#include <string>

#include "frame_parser.h"
#include "seq_tracker.h"

namespace loadgen {

class Generator;

enum class Role : uint8_t { Subscriber, Publisher };
enum class ConnState : uint8_t { Pending, Connecting, Handshaking, Open, Closed };

class Connection : public FrameSink {
 public:
  Connection(Generator& gen, uint32_t index, Role role, uint32_t topic)
      : index(index), role(role), topic(topic), gen_(gen) {}
  void on_message(Opcode op, const uint8_t* data, size_t len, bool compressed) override;
  void on_control(Opcode op, const uint8_t* data, size_t len) override;

  uint32_t index;
  Role role;
  uint32_t topic;  // the topic a subscriber listens on
  ConnState state = ConnState::Pending;
  bool ready = false;        // subscribed (or, for a publisher, open)
  bool write_armed = false;  // EPOLLOUT registered because out has unsent bytes
  int fd = -1;
  std::string out;  // bytes not yet accepted by the kernel
  size_t out_sent = 0;
  std::string head;  // handshake response bytes until the blank line
  std::string expected_accept;
  FrameParser parser;
  SeqTracker seq;
  size_t in_flight = 0;   // publisher, closed loop: publishes not yet fully delivered
  size_t next_topic = 0;  // publisher: topic of its next batch

 private:
  Generator& gen_;
};

}  // namespace loadgen
