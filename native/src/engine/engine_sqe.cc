// Everything the engine asks of the kernel. An SQE goes into the SQ here and reaches the kernel
// at the next flush() or poll(), so a whole turn costs one io_uring_enter.
#include <sys/socket.h>

#include "engine/engine.h"

namespace ringcast {

namespace {

void prep_shutdown(io_uring_sqe* sqe, uint32_t slot, ConnId id) {
  sqe->opcode = IORING_OP_SHUTDOWN;
  sqe->fd = static_cast<int32_t>(slot);
  sqe->flags = IOSQE_FIXED_FILE;
  sqe->len = SHUT_WR;
  sqe->user_data = pack_user_data(Op::kShutdown, id);
}

}  // namespace

// No SQE to be had (SQ full and the kernel refused the submit that would make room): flush()
// tries again, so accepting never silently stops.
void Engine::arm_accept() {
  if (!accepting_) return;
  io_uring_sqe* sqe = ring_.get_sqe();
  accept_wanted_ = sqe == nullptr;
  if (!sqe) return;
  sqe->opcode = IORING_OP_ACCEPT;
  sqe->fd = listen_fd_;  // the listener is a plain fd: accept hands back plain fds to install
  sqe->ioprio = IORING_ACCEPT_MULTISHOT;  // 5.19
  sqe->accept_flags = SOCK_CLOEXEC;
  sqe->user_data = pack_user_data(Op::kAccept, 0);
}

// Out of fds: wait, then re-arm. Meanwhile pending connections wait in the listen backlog and
// every established connection keeps being served.
void Engine::arm_accept_backoff() {
  io_uring_sqe* sqe = ring_.get_sqe();
  if (!sqe) {
    accept_wanted_ = true;  // no timer either: re-arm at the next flush()
    return;
  }
  backoff_ts_.tv_sec = config_.accept_backoff_ms / 1000;
  backoff_ts_.tv_nsec = (config_.accept_backoff_ms % 1000) * 1000000LL;
  sqe->opcode = IORING_OP_TIMEOUT;
  sqe->addr = reinterpret_cast<uint64_t>(&backoff_ts_);
  sqe->len = 1;
  sqe->user_data = pack_user_data(Op::kAcceptWait, 0);
  stats_.accept_backoffs++;
}

void Engine::arm_recv(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  io_uring_sqe* sqe = ring_.get_sqe();
  if (!sqe) {
    mark_rearm(slot);
    return;
  }
  sqe->opcode = IORING_OP_RECV;
  sqe->fd = static_cast<int32_t>(slot);
  sqe->flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->ioprio = IORING_RECV_MULTISHOT;  // 6.0
  sqe->buf_group = buffers_.group();
  sqe->user_data = pack_user_data(Op::kRecv, make_conn_id(slot, c.gen));
  c.set(kRecvArmed);
  c.pending++;
}

void Engine::start_send(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  if (c.state != ConnState::kOpen || c.inflight || c.q.empty()) return;
  // The last send of a closing connection takes a linked SHUTDOWN with it: room for both.
  const bool closing = c.has(kCloseAfterDrain) && !c.has(kPeerEof) && !c.has(kLinger);
  if (closing && ring_.sq_space() < 2) ring_.submit(0);
  io_uring_sqe* sqe = ring_.get_sqe();
  if (!sqe) {
    mark_dirty(slot);
    return;
  }
  SendOp* op = send_ops_.get();
  op->conn = make_conn_id(slot, c.gen);
  sqe->fd = static_cast<int32_t>(slot);
  sqe->flags = IOSQE_FIXED_FILE;
  if (queue_fits_copy(c.q)) {
    // A few small frames: one contiguous copy and a plain SEND instead of a SENDMSG.
    sqe->opcode = IORING_OP_SEND;
    sqe->len = static_cast<uint32_t>(send_op_copy(op, c.q));
    sqe->addr = reinterpret_cast<uint64_t>(op->copy);
    stats_.copied_sends++;
  } else {
    const uint64_t bytes = send_op_gather(op, c.q);
    op->zero_copy = config_.zc_threshold && bytes >= config_.zc_threshold && features_.send_zc;
    if (op->n == 1 && !op->zero_copy) {
      // One frame: a plain SEND from the frame, so the kernel imports no msghdr or iovec.
      sqe->opcode = IORING_OP_SEND;
      sqe->addr = reinterpret_cast<uint64_t>(op->iov[0].iov_base);
      sqe->len = static_cast<uint32_t>(op->iov[0].iov_len);
      stats_.single_sends++;
    } else {
      send_op_msg(op);
      sqe->opcode = op->zero_copy ? IORING_OP_SENDMSG_ZC : IORING_OP_SENDMSG;
      sqe->addr = reinterpret_cast<uint64_t>(&op->msg);
      sqe->len = 1;
    }
  }
  // No MSG_WAITALL: a short send completes and the rest goes first in the next send.
  sqe->msg_flags = MSG_NOSIGNAL;
  sqe->user_data = pack_user_data(op->zero_copy ? Op::kSendZc : Op::kSend, op->index);
  if (closing && op->bytes == c.q.bytes && !op->zero_copy) link_shutdown(slot, op, sqe);
  c.inflight = op->index + 1;
  c.pending++;
  stats_.sends++;
  stats_.zc_sends += op->zero_copy;
}

// The close's last send, then SHUT_WR in the same submission (IOSQE_IO_LINK): no trip back
// through the event loop between them. The send gets MSG_WAITALL, since a link goes on after
// a short send that "succeeded"; with it, short means failed, and the SHUTDOWN is cancelled.
bool Engine::link_shutdown(uint32_t slot, SendOp* op, io_uring_sqe* send_sqe) {
  if (ring_.sq_space() < 1) return false;
  io_uring_sqe* sqe = ring_.get_sqe();
  if (!sqe) return false;
  send_sqe->flags |= IOSQE_IO_LINK;
  send_sqe->msg_flags |= MSG_WAITALL;
  prep_shutdown(sqe, slot, op->conn);
  op->shutdown_linked = true;
  conns_[slot].set(kLinger);
  conns_[slot].pending++;
  return true;
}

// A close with nothing left to send: SHUT_WR alone (or at once, without an SQE).
void Engine::submit_shutdown(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  c.set(kLinger);
  io_uring_sqe* sqe = ring_.get_sqe();
  if (!sqe) {
    ::shutdown(c.fd, SHUT_WR);
    if (!c.has(kRecvArmed)) mark_rearm(slot);
    return;
  }
  prep_shutdown(sqe, slot, make_conn_id(slot, c.gen));
  c.pending++;
}

// Closing a fixed file does not cancel its pending recv (6.18): cancel everything on the slot.
void Engine::submit_cancel(uint32_t slot) {
  ConnSlot& c = conns_[slot];
  io_uring_sqe* sqe = ring_.get_sqe();
  if (!sqe) {
    ::shutdown(c.fd, SHUT_RDWR);  // no SQ room: ending the socket ends its ops too
    return;
  }
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = static_cast<int32_t>(slot);
  sqe->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL;
  sqe->user_data = pack_user_data(Op::kCancel, make_conn_id(slot, c.gen));
  c.pending++;
}

}  // namespace ringcast
