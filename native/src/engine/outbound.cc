#include "engine/outbound.h"

#include <cstring>

namespace ringcast {

NodePool::~NodePool() {
  while (free_) {
    QueueNode* n = free_;
    free_ = n->next;
    delete n;
  }
}

QueueNode* NodePool::get() {
  QueueNode* n = free_;
  if (n) {
    free_ = n->next;
  } else {
    n = new QueueNode;
  }
  live_++;
  return n;
}

void NodePool::put(QueueNode* n) {
  n->next = free_;
  free_ = n;
  live_--;
}

void queue_push(OutQueue* q, NodePool* pool, Frame* f) {
  QueueNode* n = pool->get();
  n->frame = frame_ref(f);
  n->next = nullptr;
  if (q->tail) {
    q->tail->next = n;
  } else {
    q->head = n;
  }
  q->tail = n;
  q->count++;
  q->bytes += f->len;
}

static void pop_head(OutQueue* q, NodePool* pool) {
  QueueNode* n = q->head;
  q->head = n->next;
  if (!q->head) q->tail = nullptr;
  q->count--;
  q->head_off = 0;
  frame_unref(n->frame);
  pool->put(n);
}

void queue_consume(OutQueue* q, NodePool* pool, size_t n) {
  while (n && q->head) {
    size_t left = q->head->frame->len - q->head_off;
    if (n < left) {
      q->head_off += static_cast<uint32_t>(n);
      q->bytes -= n;
      return;
    }
    n -= left;
    q->bytes -= left;
    pop_head(q, pool);
  }
}

void queue_truncate(OutQueue* q, NodePool* pool, uint32_t keep) {
  QueueNode* last = nullptr;
  QueueNode* n = q->head;
  for (uint32_t i = 0; i < keep && n; i++) {
    last = n;
    n = n->next;
  }
  while (n) {
    QueueNode* next = n->next;
    q->bytes -= n->frame->len;
    q->count--;
    frame_unref(n->frame);
    pool->put(n);
    n = next;
  }
  if (last) {
    last->next = nullptr;
  } else {
    q->head = nullptr;
    q->head_off = 0;
  }
  q->tail = last;
}

void queue_clear(OutQueue* q, NodePool* pool) {
  while (q->head) pop_head(q, pool);
  q->bytes = 0;
}

uint64_t send_op_gather(SendOp* op, const OutQueue& q) {
  uint32_t off = q.head_off;
  uint64_t bytes = 0;
  op->n = 0;
  for (QueueNode* n = q.head; n && op->n < kMaxIov; n = n->next) {
    Frame* f = n->frame;
    op->iov[op->n].iov_base = f->data() + off;
    op->iov[op->n].iov_len = f->len - off;
    op->held[op->n] = frame_ref(f);
    bytes += f->len - off;
    off = 0;
    op->n++;
  }
  std::memset(&op->msg, 0, sizeof op->msg);
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = op->n;
  op->bytes = bytes;
  return bytes;
}

void send_op_release(SendOp* op) {
  for (uint32_t i = 0; i < op->n; i++) frame_unref(op->held[i]);
  op->n = 0;
}

SendOpPool::~SendOpPool() {
  for (SendOp* op : ops_) delete op;
}

SendOp* SendOpPool::get() {
  SendOp* op = free_;
  if (op) {
    free_ = op->next_free;
  } else {
    op = new SendOp;
    op->index = static_cast<uint32_t>(ops_.size());
    ops_.push_back(op);
  }
  op->next_free = nullptr;
  op->zero_copy = false;
  op->awaiting_notif = false;
  live_++;
  return op;
}

void SendOpPool::put(SendOp* op) {
  op->next_free = free_;
  free_ = op;
  live_--;
}

}  // namespace ringcast
