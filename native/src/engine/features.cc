#include "engine/features.h"

#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/ring.h"

namespace ringcast {

namespace {

bool at_least(const Features& f, int major, int minor) {
  return f.kernel_major > major || (f.kernel_major == major && f.kernel_minor >= minor);
}

void add_name(std::string* s, bool on, const char* name) {
  if (!on) return;
  if (!s->empty()) *s += ',';
  *s += name;
}

}  // namespace

bool kernel_version(int* major, int* minor) {
  utsname u;
  if (uname(&u) != 0) return false;
  return std::sscanf(u.release, "%d.%d", major, minor) == 2;
}

int detect_features(Ring& ring, Features* f) {
  kernel_version(&f->kernel_major, &f->kernel_minor);
  f->setup_flags = ring.setup_flags();
  f->feature_bits = ring.features();
  f->defer_taskrun = f->setup_flags & IORING_SETUP_DEFER_TASKRUN;
  f->single_issuer = f->setup_flags & IORING_SETUP_SINGLE_ISSUER;
  f->no_sqarray = f->setup_flags & IORING_SETUP_NO_SQARRAY;
  f->ext_arg = f->feature_bits & IORING_FEAT_EXT_ARG;
  f->sqpoll = f->setup_flags & IORING_SETUP_SQPOLL;
  f->attached = f->sqpoll && (f->setup_flags & IORING_SETUP_ATTACH_WQ);

  size_t len = sizeof(io_uring_probe) + RC_IORING_OP_COUNT * sizeof(io_uring_probe_op);
  auto* probe = static_cast<io_uring_probe*>(std::calloc(1, len));
  if (!probe) return -ENOMEM;
  int r = ring.register_op(IORING_REGISTER_PROBE, probe, RC_IORING_OP_COUNT);
  if (r == 0) {
    f->last_op = probe->last_op;
    for (unsigned i = 0; i < probe->ops_len && i < 64; i++) {
      f->op_supported[probe->ops[i].op & 63] = probe->ops[i].flags & IO_URING_OP_SUPPORTED;
    }
  }
  std::free(probe);
  if (r < 0) return r;

  // Multishot and buffer rings are flags of existing opcodes, so the probe cannot list them;
  // the kernel version decides, and the self-test proves it on a real socket.
  f->pbuf_ring = at_least(*f, 5, 19);
  f->multishot = at_least(*f, 6, 0) && f->op(IORING_OP_RECV);
  f->cancel_fd_fixed = at_least(*f, 6, 0);
  f->send_zc = f->op(IORING_OP_SENDMSG_ZC);
  f->writev_fixed = f->op(RC_IORING_OP_WRITEV_FIXED);
  return 0;
}

std::string Features::names() const {
  std::string s;
  add_name(&s, defer_taskrun, "defer_taskrun");
  add_name(&s, single_issuer, "single_issuer");
  add_name(&s, no_sqarray, "no_sqarray");
  add_name(&s, ext_arg, "ext_arg");
  add_name(&s, pbuf_ring, "pbuf_ring");
  add_name(&s, multishot, "multishot");
  add_name(&s, send_zc, "send_zc");
  add_name(&s, writev_fixed, "writev_fixed");
  add_name(&s, cancel_fd_fixed, "cancel_fd_fixed");
  add_name(&s, sqpoll, "sqpoll");
  add_name(&s, attached, "attached");
  return s;
}

}  // namespace ringcast
