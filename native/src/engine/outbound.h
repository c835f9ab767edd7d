// Per-connection outbound queue and the gathered send built from it. A connection keeps at most
// one send in flight (two sends in flight on one TCP socket can interleave their bytes, seen on
// 6.18); frames queued behind it leave together as ONE gathered SENDMSG when it completes, which
// measured 5-6x cheaper per message than one send per frame (DESIGN.md, "The ring"). A send of a
// single frame goes out as a plain SEND (no msghdr for the kernel to import).
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

// Queue nodes for frames past the inline ones. Nodes come in chunks; the free ones sit on a
// stack of pointers, so get() reads the (hot) stack instead of a cold node's `next`.
class NodePool {
 public:
  NodePool() = default;
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;
  ~NodePool();
  QueueNode* get() {
    if (free_.empty()) grow();
    QueueNode* n = free_.back();
    free_.pop_back();
    live_++;
    return n;
  }
  void put(QueueNode* n) {
    free_.push_back(n);
    live_--;
  }
  uint64_t live() const { return live_; }

 private:
  void grow();
  std::vector<QueueNode*> chunks_;
  std::vector<QueueNode*> free_;
  uint64_t live_ = 0;
};

// Frames waiting on one connection, oldest first: up to kInlineFrames in `ring` (from
// ring[in_head]), then any more in a list of pooled nodes. New frames go inline only while the
// list is empty, so the order is always inline then list. Under fanout a connection usually has
// one or two frames queued (one in flight, one behind it): no node, no pointer chase.
// head_off: bytes of the head frame already sent (a short send resumes there). 48 bytes.
constexpr uint32_t kInlineFrames = 2;  // a power of two
static_assert((kInlineFrames & (kInlineFrames - 1)) == 0, "kInlineFrames: a power of two");

struct OutQueue {
  uint32_t head_off = 0;
  uint8_t in_head = 0;  // index in ring of the oldest inline frame
  uint8_t in_n = 0;     // inline frames queued
  Frame* ring[kInlineFrames] = {};
  QueueNode* spill_head = nullptr;
  QueueNode* spill_tail = nullptr;
  uint64_t bytes = 0;  // unsent bytes, head_off already subtracted

  bool empty() const { return in_n == 0 && spill_head == nullptr; }
};

void queue_push(OutQueue* q, NodePool* pool, Frame* f);  // takes a reference
// Marks n bytes as sent: releases frames sent whole, remembers where the head stopped.
void queue_consume(OutQueue* q, NodePool* pool, size_t n);
// Drops frames after the first `keep` (those covered by a send in flight, or partly sent).
void queue_truncate(OutQueue* q, NodePool* pool, uint32_t keep);
void queue_clear(OutQueue* q, NodePool* pool);

// One gathered send in flight. Holds its own reference on every frame it points into, so the
// bytes stay valid until the kernel is done with them (the completion, or for zero-copy sends
// the notification CQE) whatever happens to the connection meanwhile. The frames are not stored
// apart: iov[i] points into frame i at offset 0 (head_off for i = 0), and the kernel only reads
// the iovec, so send_op_frame() recovers each one. The fields a one-frame send touches (the
// header and iov[0]) share the first cache line; msg, used for 2+ frames, comes last.
constexpr uint32_t kMaxIov = 64;  // frames per gathered send; UIO_MAXIOV is 1024
// Queues of 2+ frames up to this many bytes are copied into the op and sent as one plain SEND:
// a memcpy of under 1 KiB costs less than the kernel's import of a msghdr and its iovec (5% of
// the server's CPU at 10k subscribers, 8 frames per send). The copy reuses the iovec's memory.
constexpr uint32_t kCopySendBytes = kMaxIov * sizeof(iovec);

struct SendOp {
  uint32_t n = 0;         // frames covered (whole or in part)
  uint32_t conn = 0;      // ConnId at submission
  uint32_t index = 0;     // position in the pool, carried in user_data
  uint32_t head_off = 0;  // offset of iov[0] in its frame
  uint64_t bytes = 0;     // bytes offered
  bool zero_copy = false;
  bool copied = false;           // the bytes are in `copy`: no frame references held, iov unused
  bool shutdown_linked = false;  // a SHUT_WR is linked behind this send (the close's last)
  union {
    iovec iov[kMaxIov];
    uint8_t copy[kCopySendBytes];
  };
  msghdr msg;  // filled by send_op_msg() for a gathered SENDMSG
};

inline Frame* send_op_frame(const SendOp* op, uint32_t i) {
  uint8_t* data = static_cast<uint8_t*>(op->iov[i].iov_base) - (i == 0 ? op->head_off : 0);
  return reinterpret_cast<Frame*>(data) - 1;
}

// Fills op's iovec from the queue head (resuming at head_off), taking a reference on each frame.
// Returns the bytes offered.
uint64_t send_op_gather(SendOp* op, const OutQueue& q);
// Whether the queue holds 2+ frames and at most kCopySendBytes unsent bytes.
bool queue_fits_copy(const OutQueue& q);
// Copies every unsent byte of the queue into op->copy (queue_fits_copy() must hold); no
// references are taken. Returns the bytes offered.
uint64_t send_op_copy(SendOp* op, const OutQueue& q);
// Points op->msg at the iovec (for SENDMSG / SENDMSG_ZC).
void send_op_msg(SendOp* op);
void send_op_release(SendOp* op);  // drops the held references

// SendOps are reused last-freed first; the free ones sit on a stack of pointers, so get() does
// not load from a (possibly cold) op to find the next one.
class SendOpPool {
 public:
  SendOpPool() = default;
  SendOpPool(const SendOpPool&) = delete;
  SendOpPool& operator=(const SendOpPool&) = delete;
  ~SendOpPool();
  SendOp* get();
  void put(SendOp* op);
  SendOp* at(uint32_t index) { return index < ops_.size() ? ops_[index] : nullptr; }
  uint32_t live() const { return live_; }
  // Forgets the ops in flight (and the frame references they hold) without freeing them: for a
  // ring closed before the kernel answered them (Engine::shutdown_all).
  void abandon_live();

 private:
  std::vector<SendOp*> ops_;
  std::vector<SendOp*> free_;
  uint32_t live_ = 0;
};

}  // namespace ringcast
