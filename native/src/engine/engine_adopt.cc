// Where a connection enters the engine: from the ring's own multishot accept (on_accepted), or
// handed over as a plain fd by an acceptor elsewhere in the process (adopt: with --workers, one
// acceptor thread, one ring per worker thread). Both end in open_conn(), so an adopted socket is
// a connection like any other from its first byte.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "engine/engine.h"

namespace ringcast {

namespace {

int sock_int(int fd, int option, int* value) {
  socklen_t len = sizeof *value;
  return getsockopt(fd, SOL_SOCKET, option, value, &len) < 0 ? -errno : 0;
}

// 0 when fd is what the ring's accept would have produced: a connected TCP socket. -errno
// naming what it is instead.
int check_connected_tcp(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;  // EBADF: not an open fd
  if (!S_ISSOCK(st.st_mode)) return -ENOTSOCK;
  int v = 0;
  int r = sock_int(fd, SO_TYPE, &v);
  if (r < 0) return r;
  if (v != SOCK_STREAM) return -EPROTOTYPE;  // UDP, SEQPACKET
  if ((r = sock_int(fd, SO_DOMAIN, &v)) < 0) return r;
  if (v != AF_INET && v != AF_INET6) return -EAFNOSUPPORT;  // unix: no TCP_NODELAY, no peer IP
  if ((r = sock_int(fd, SO_ACCEPTCONN, &v)) < 0) return r;
  if (v) return -EINVAL;  // a listener: its connections come through listen() or its acceptor
  sockaddr_storage peer;
  socklen_t len = sizeof peer;
  // ENOTCONN: never connected, or reset (or timed out) between the accept and this call.
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) < 0 ? -errno : 0;
}

// The flags the ring's accept gives (arm_accept: SOCK_CLOEXEC, blocking), whatever the acceptor
// set: Node's accepted fds are non-blocking. io_uring's RECV and SEND ask for MSG_DONTWAIT
// themselves and poll on EAGAIN, so O_NONBLOCK would change nothing there, but one shape of
// socket is one behaviour to test (every engine test runs on accepted sockets).
int match_accept_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) return -errno;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)) return -errno;
  return 0;
}

}  // namespace

int64_t Engine::adopt(int fd) {
  if (fd < 0) return -EBADF;
  if (!admitting_) {
    ::close(fd);
    stats_.rejected++;
    return -ESHUTDOWN;
  }
  int r = check_connected_tcp(fd);
  if (r == 0) r = match_accept_flags(fd);
  if (r < 0) {
    ::close(fd);
    return r;
  }
  return open_conn(fd);
}

// Closes fd (counted in `rejected`) when no slot can take it: -ENFILE when every one is taken.
int64_t Engine::open_conn(int fd) {
  int slot = files_.install(fd);
  if (slot < 0) {
    ::close(fd);
    stats_.rejected++;
    return slot;
  }
  int one = 1;  // frames are whole messages: no Nagle delay behind a small one
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ConnSlot& c = conns_[slot];
  c.fd = fd;
  c.state = ConnState::kOpen;
  c.flags = 0;
  c.pending = 0;
  stats_.live_slots++;
  stats_.accepted++;
  ConnId id = make_conn_id(static_cast<uint32_t>(slot), c.gen);
  emit(EventType::kOpen, id, 0);
  arm_recv(static_cast<uint32_t>(slot));
  return id;
}

}  // namespace ringcast
