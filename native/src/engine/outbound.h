// Per-connection outbound queue and the gathered send built from it. A connection keeps at most
// one send in flight (two sends in flight on one TCP socket can interleave their bytes, seen on
// 6.18); frames queued behind it leave together as ONE gathered SENDMSG when it completes, which
// measured 5-6x cheaper per message than one send per frame (DESIGN.md, "The ring").
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/frame.h"

namespace ringcast {

struct QueueNode {
  Frame* frame;
  QueueNode* next;
};

// Free list of queue nodes, so queueing a frame on N connections allocates nothing in steady state.
class NodePool {
 public:
  ~NodePool();
  QueueNode* get();
  void put(QueueNode* n);
  uint64_t live() const { return live_; }

 private:
  QueueNode* free_ = nullptr;
  uint64_t live_ = 0;
};

// Frames waiting on one connection. head_off: bytes of the head frame already sent (a short
// send resumes there). 24 bytes for an idle connection.
struct OutQueue {
  QueueNode* head = nullptr;
  QueueNode* tail = nullptr;
  uint32_t head_off = 0;
  uint32_t count = 0;
  uint64_t bytes = 0;  // unsent bytes, head_off already subtracted

  bool empty() const { return head == nullptr; }
};

void queue_push(OutQueue* q, NodePool* pool, Frame* f);  // takes a reference
// Marks n bytes as sent: releases frames sent whole, remembers where the head stopped.
void queue_consume(OutQueue* q, NodePool* pool, size_t n);
// Drops frames after the first `keep` (those covered by a send in flight, or partly sent).
void queue_truncate(OutQueue* q, NodePool* pool, uint32_t keep);
void queue_clear(OutQueue* q, NodePool* pool);

// One gathered send in flight. Holds its own reference on every frame it points into, so the
// bytes stay valid until the kernel is done with them (the completion, or for zero-copy sends
// the notification CQE) whatever happens to the connection meanwhile.
constexpr uint32_t kMaxIov = 64;  // frames per gathered send; UIO_MAXIOV is 1024

struct SendOp {
  msghdr msg;
  iovec iov[kMaxIov];
  Frame* held[kMaxIov];
  uint32_t n = 0;
  uint32_t conn = 0;      // ConnId at submission
  uint32_t index = 0;     // position in the pool, carried in user_data
  uint64_t bytes = 0;     // bytes offered
  bool zero_copy = false;
  bool awaiting_notif = false;
  SendOp* next_free = nullptr;
};

// Fills op's iovec from the queue head (resuming at head_off). Returns the bytes offered.
uint64_t send_op_gather(SendOp* op, const OutQueue& q);
void send_op_release(SendOp* op);  // drops the held references

class SendOpPool {
 public:
  ~SendOpPool();
  SendOp* get();
  void put(SendOp* op);
  SendOp* at(uint32_t index) { return index < ops_.size() ? ops_[index] : nullptr; }
  uint32_t live() const { return live_; }

 private:
  std::vector<SendOp*> ops_;
  SendOp* free_ = nullptr;
  uint32_t live_ = 0;
};

}  // namespace ringcast
