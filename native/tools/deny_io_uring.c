/* deny_io_uring ERRNO PROGRAM [ARGS...]: runs PROGRAM under a seccomp filter that answers
 * io_uring_setup(2) with -ERRNO (EPERM = 1 as Docker >= 25's default profile does, ENOSYS = 38
 * as podman's does) and allows everything else. Used by the fallback tests: a real kernel
 * refusal, not a mocked one. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: deny_io_uring ERRNO PROGRAM [ARGS...]\n");
    return 2;
  }
  unsigned err = (unsigned)atoi(argv[1]) & SECCOMP_RET_DATA;
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* other arches: leave alone */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("deny_io_uring: seccomp");
    return 1;
  }
  execvp(argv[2], argv + 2);
  perror("deny_io_uring: exec");
  return 127;
}
