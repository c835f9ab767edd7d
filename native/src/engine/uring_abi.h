// The kernel ABI we build against: Debian's UAPI header is from 6.1, the running kernel is newer.
// Everything newer than 6.1 is defined here, guarded, with the kernel version that added it, so a
// newer header wins and an older kernel refuses the flag at runtime (we probe, never assume).
#pragma once

#include <linux/io_uring.h>

// Setup flags.
#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)  // 6.5
#endif
#ifndef IORING_SETUP_REGISTERED_FD_ONLY
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)  // 6.5
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)  // 6.6: SQE index = tail & mask, no indirection array
#endif

// Opcodes past IORING_OP_SENDMSG_ZC (47), numbered as in the 6.18 UAPI.
#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49  // 6.7
#endif
#define RC_IORING_OP_WRITEV_FIXED 61  // 6.15: gathered write from registered buffers
#define RC_IORING_OP_COUNT 64         // probe buffer size; the 6.18 probe reports ops 0-62

// sqe->ioprio flags for send/recv.
#ifndef IORING_RECVSEND_POLL_FIRST
#define IORING_RECVSEND_POLL_FIRST (1U << 0)  // 5.19
#endif
#ifndef IORING_RECVSEND_FIXED_BUF
#define IORING_RECVSEND_FIXED_BUF (1U << 2)  // 6.0, SEND_ZC only
#endif
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)  // 6.2
#endif

// Feature bits reported by io_uring_setup.
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)  // 6.3
#endif

// Cancel flags.
#ifndef IORING_ASYNC_CANCEL_FD_FIXED
#define IORING_ASYNC_CANCEL_FD_FIXED (1U << 3)  // 6.0
#endif

#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif
