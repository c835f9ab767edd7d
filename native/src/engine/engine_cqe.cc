// What the kernel answers, one handler per Op. Every handler first decides whether the
// completion is stale (its connection was closed since submission); a stale completion still
// gives back its buffer and its frame references, and lets the slot free once nothing is pending.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "engine/engine.h"

namespace ringcast {

const Engine::Handler Engine::kHandlers[static_cast<int>(Op::kCount)] = {
    &Engine::on_none, &Engine::on_accept,  &Engine::on_accept_wait, &Engine::on_recv,
    &Engine::on_send, &Engine::on_send_zc, &Engine::on_cancel,      &Engine::on_shutdown,
};

const char* op_name(Op op) {
  static const char* const kNames[] = {"none", "accept",  "accept_wait", "recv",
                                       "send", "send_zc", "cancel",      "shutdown"};
  unsigned i = static_cast<unsigned>(op);
  return i < sizeof kNames / sizeof kNames[0] ? kNames[i] : "?";
}

void Engine::on_none(const io_uring_cqe&) {}

void Engine::on_accept(const io_uring_cqe& cqe) {
  bool more = cqe.flags & IORING_CQE_F_MORE;
  if (cqe.res >= 0) on_accepted(cqe.res);
  if (more) return;
  if (!accepting_) return;
  if (cqe.res == -EMFILE || cqe.res == -ENFILE || cqe.res == -ENOMEM || cqe.res == -ENOBUFS) {
    arm_accept_backoff();
  } else {
    arm_accept();
  }
}

void Engine::on_accept_wait(const io_uring_cqe&) { arm_accept(); }

void Engine::on_accepted(int fd) {
  if (!admitting_) {
    ::close(fd);
    stats_.rejected++;
    return;
  }
  open_conn(fd);
}

void Engine::on_recv(const io_uring_cqe& cqe) {
  ConnId id = user_data_conn(cqe.user_data);
  uint32_t slot = conn_slot(id);
  ConnSlot& c = conns_[slot];
  bool stale = c.state != ConnState::kOpen || c.gen != conn_gen(id);
  bool has_buffer = cqe.flags & IORING_CQE_F_BUFFER;
  uint16_t bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  if (has_buffer) buffers_.taken();
  if (stale) stats_.stale_cqes++;
  // After close() nothing more is read for the layer above: the lingering close only drains.
  if (cqe.res > 0 && has_buffer && !stale && !c.has(kCloseAfterDrain)) {
    emit(EventType::kData, id, 0);
    Event& e = batch_.back();  // completions are reaped only inside poll()
    e.bid = bid;
    e.data = buffers_.buffer(bid);
    e.len = static_cast<uint32_t>(cqe.res);
    held_bids_.push_back(bid);
  } else if (has_buffer) {
    buffers_.recycle(bid);
  }
  if (cqe.flags & IORING_CQE_F_MORE) return;
  c.clear(kRecvArmed);
  c.pending--;
  if (stale) {
    maybe_free(slot);
  } else {
    on_recv_end(slot, c, cqe.res);
  }
}

// The multishot recv ended: re-arm, or the peer's FIN (everything before it was delivered in
// this batch already), or an error that ends the connection.
void Engine::on_recv_end(uint32_t slot, ConnSlot& c, int res) {
  if (res > 0 || res == -ENOBUFS) {  // > 0: ended early (e.g. CQ overflow); ENOBUFS: ring ran dry
    stats_.recv_rearms++;
    if (res == -ENOBUFS) stats_.recv_enobufs++;
    mark_rearm(slot);
  } else if (res == 0) {
    c.set(kPeerEof);
    if (!c.has(kCloseAfterDrain)) {
      emit(EventType::kEof, make_conn_id(slot, c.gen), 0);  // half-closed: the layer decides
    } else if (c.q.empty() && !c.inflight) {
      teardown(slot, kClosedLocal);  // our last bytes are out and the peer has closed too
    }
  } else {
    teardown(slot, res);  // ECONNRESET and friends
  }
}

void Engine::on_send(const io_uring_cqe& cqe) {
  SendOp* op = send_ops_.at(user_data_conn(cqe.user_data));
  if (!op) return;
  on_send_result(op, cqe.res);
  send_op_release(op);
  send_ops_.put(op);
}

// SENDMSG_ZC posts the result (with F_MORE when a notification follows) and later a
// notification (F_NOTIF) once the kernel no longer reads our pages: only then may frames go.
void Engine::on_send_zc(const io_uring_cqe& cqe) {
  SendOp* op = send_ops_.at(user_data_conn(cqe.user_data));
  if (!op) return;
  if (cqe.flags & IORING_CQE_F_NOTIF) {
    ConnSlot& c = conns_[conn_slot(op->conn)];
    c.pending--;
    send_op_release(op);
    send_ops_.put(op);
    maybe_free(conn_slot(op->conn));
    return;
  }
  bool notif_follows = cqe.flags & IORING_CQE_F_MORE;
  if (notif_follows) conns_[conn_slot(op->conn)].pending++;  // the notification is one more CQE
  on_send_result(op, cqe.res);
  if (notif_follows) return;
  send_op_release(op);
  send_ops_.put(op);
}

void Engine::on_send_result(SendOp* op, int res) {
  uint32_t slot = conn_slot(op->conn);
  ConnSlot& c = conns_[slot];
  c.pending--;
  if (c.inflight == op->index + 1) c.inflight = 0;
  bool stale = c.state != ConnState::kOpen || c.gen != conn_gen(op->conn);
  if (stale) {
    stats_.stale_cqes++;
    maybe_free(slot);
    return;
  }
  if (res < 0) {
    teardown(slot, res);  // EPIPE, ECONNRESET: the peer is gone
    return;
  }
  stats_.short_sends += static_cast<uint64_t>(res) < op->bytes;
  uint64_t before = c.q.bytes;
  queue_consume(&c.q, &nodes_, static_cast<size_t>(res));
  stats_.bytes_queued -= before - c.q.bytes;
  if (!c.q.empty()) {
    mark_dirty(slot);  // short send or frames queued behind it: one gathered send at flush()
  } else if (c.has(kCloseAfterDrain)) {
    if (!op->shutdown_linked || c.has(kPeerEof)) finish_close(slot);  // else: on_shutdown
  } else if (c.has(kDrainWanted)) {
    c.clear(kDrainWanted);
    emit(EventType::kDrain, op->conn, 0);
  }
}

// SHUT_WR of a closing connection: linger (reads drain until the FIN) unless the FIN is here.
// -ECANCELED: the send linked before it failed or came up short, and that send's completion
// decided what comes next; finish_close() runs again once the queue has drained.
void Engine::on_shutdown(const io_uring_cqe& cqe) {
  ConnId id = user_data_conn(cqe.user_data);
  uint32_t slot = conn_slot(id);
  ConnSlot& c = conns_[slot];
  c.pending--;
  if (c.state != ConnState::kOpen || c.gen != conn_gen(id)) {
    stats_.stale_cqes++;
    maybe_free(slot);
    return;
  }
  if (cqe.res == -ECANCELED) {
    c.clear(kLinger);
    if (c.q.empty() && !c.inflight) finish_close(slot);
  } else if (cqe.res < 0) {
    teardown(slot, cqe.res);
  } else if (c.has(kPeerEof)) {
    teardown(slot, kClosedLocal);
  } else if (!c.has(kRecvArmed)) {
    mark_rearm(slot);  // the FIN that ends the linger arrives through recv
  }
}

void Engine::on_cancel(const io_uring_cqe& cqe) {
  uint32_t slot = conn_slot(user_data_conn(cqe.user_data));
  conns_[slot].pending--;
  maybe_free(slot);
}

}  // namespace ringcast
