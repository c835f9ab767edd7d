#include "engine/outbound.h"

#include <cstring>

namespace ringcast {

namespace {

constexpr uint32_t kInlineMask = kInlineFrames - 1;
constexpr size_t kNodesPerChunk = 256;  // 4 KiB of nodes per allocation

Frame* queue_front(const OutQueue* q) { return q->in_n ? q->ring[q->in_head] : q->spill_head->frame; }

void pop_head(OutQueue* q, NodePool* pool) {
  q->head_off = 0;
  if (q->in_n) {
    Frame* f = q->ring[q->in_head];
    q->ring[q->in_head] = nullptr;
    q->in_head = static_cast<uint8_t>((q->in_head + 1) & kInlineMask);
    q->in_n--;
    frame_unref(f);
    return;
  }
  QueueNode* n = q->spill_head;
  q->spill_head = n->next;
  if (!q->spill_head) q->spill_tail = nullptr;
  frame_unref(n->frame);
  pool->put(n);
}

}  // namespace

NodePool::~NodePool() {
  for (QueueNode* c : chunks_) delete[] c;
}

void NodePool::grow() {
  QueueNode* chunk = new QueueNode[kNodesPerChunk];
  chunks_.push_back(chunk);
  // Handed out from the start of the chunk: pushed in reverse, popped from the back.
  for (size_t i = kNodesPerChunk; i-- > 0;) free_.push_back(&chunk[i]);
}

void queue_push(OutQueue* q, NodePool* pool, Frame* f) {
  frame_ref(f);
  q->bytes += f->len;
  if (!q->spill_head && q->in_n < kInlineFrames) {
    q->ring[(q->in_head + q->in_n) & kInlineMask] = f;
    q->in_n++;
    return;
  }
  QueueNode* n = pool->get();
  n->frame = f;
  n->next = nullptr;
  if (q->spill_tail) {
    q->spill_tail->next = n;
  } else {
    q->spill_head = n;
  }
  q->spill_tail = n;
}

void queue_consume(OutQueue* q, NodePool* pool, size_t n) {
  while (n && !q->empty()) {
    size_t left = queue_front(q)->len - q->head_off;
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
  // Inline entries are the oldest: drop the ones past `keep`, then the list past what is left.
  uint32_t keep_inline = keep < q->in_n ? keep : q->in_n;
  for (uint32_t i = keep_inline; i < q->in_n; i++) {
    uint32_t at = (q->in_head + i) & kInlineMask;
    Frame* f = q->ring[at];
    q->bytes -= f->len - (i == 0 ? q->head_off : 0);
    q->ring[at] = nullptr;
    frame_unref(f);
  }
  bool head_dropped = keep_inline == 0 && q->in_n != 0;
  q->in_n = static_cast<uint8_t>(keep_inline);
  uint32_t keep_list = keep - keep_inline;
  QueueNode* last = nullptr;
  QueueNode* n = q->spill_head;
  for (uint32_t i = 0; i < keep_list && n; i++) {
    last = n;
    n = n->next;
  }
  bool list_head_is_queue_head = keep_inline == 0 && !head_dropped;
  while (n) {
    QueueNode* next = n->next;
    bool is_head = list_head_is_queue_head && n == q->spill_head;
    q->bytes -= n->frame->len - (is_head ? q->head_off : 0);
    frame_unref(n->frame);
    pool->put(n);
    n = next;
  }
  if (last) {
    last->next = nullptr;
  } else {
    q->spill_head = nullptr;
  }
  q->spill_tail = last;
  if (q->empty()) q->head_off = 0;
}

void queue_clear(OutQueue* q, NodePool* pool) {
  while (!q->empty()) pop_head(q, pool);
  q->bytes = 0;
}

uint64_t send_op_gather(SendOp* op, const OutQueue& q) {
  uint32_t off = q.head_off;
  uint64_t bytes = 0;
  uint32_t n = 0;
  op->head_off = off;
  for (uint32_t i = 0; i < q.in_n; i++) {
    Frame* f = frame_ref(q.ring[(q.in_head + i) & kInlineMask]);
    op->iov[n].iov_base = f->data() + off;
    op->iov[n].iov_len = f->len - off;
    bytes += f->len - off;
    off = 0;
    n++;
  }
  for (QueueNode* node = q.spill_head; node && n < kMaxIov; node = node->next) {
    Frame* f = frame_ref(node->frame);
    op->iov[n].iov_base = f->data() + off;
    op->iov[n].iov_len = f->len - off;
    bytes += f->len - off;
    off = 0;
    n++;
  }
  op->n = n;
  op->bytes = bytes;
  return bytes;
}

bool queue_fits_copy(const OutQueue& q) {
  if (q.bytes > kCopySendBytes) return false;
  const uint32_t frames = q.in_n + (q.spill_head ? 1u : 0u) + (q.spill_head && q.spill_head->next ? 1u : 0u);
  return frames >= 2;
}

uint64_t send_op_copy(SendOp* op, const OutQueue& q) {
  uint32_t off = q.head_off;
  uint64_t bytes = 0;
  uint32_t n = 0;
  auto take = [&](const Frame* f) {
    const uint32_t len = f->len - off;
    std::memcpy(op->copy + bytes, f->data() + off, len);
    bytes += len;
    off = 0;
    n++;
  };
  op->head_off = off;
  for (uint32_t i = 0; i < q.in_n; i++) take(q.ring[(q.in_head + i) & kInlineMask]);
  for (QueueNode* node = q.spill_head; node; node = node->next) take(node->frame);
  op->n = n;
  op->bytes = bytes;
  op->copied = true;
  return bytes;
}

void send_op_msg(SendOp* op) {
  std::memset(&op->msg, 0, sizeof op->msg);
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = op->n;
}

void send_op_release(SendOp* op) {
  if (!op->copied) {
    for (uint32_t i = 0; i < op->n; i++) frame_unref(send_op_frame(op, i));
  }
  op->n = 0;
  op->copied = false;
}

SendOpPool::~SendOpPool() {
  for (SendOp* op : ops_) delete op;
}

void SendOpPool::abandon_live() {
  ops_ = free_;  // the destructor frees only these
  live_ = 0;
}

SendOp* SendOpPool::get() {
  SendOp* op;
  if (!free_.empty()) {
    op = free_.back();
    free_.pop_back();
  } else {
    op = new SendOp;
    op->index = static_cast<uint32_t>(ops_.size());
    ops_.push_back(op);
  }
  op->zero_copy = false;
  op->copied = false;
  op->shutdown_linked = false;
  live_++;
  return op;
}

void SendOpPool::put(SendOp* op) {
  free_.push_back(op);
  live_--;
}

}  // namespace ringcast
