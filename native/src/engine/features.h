// What the running kernel offers, decided once at start: setup flags the ring accepted, feature
// bits, and the opcodes IORING_REGISTER_PROBE lists. Named booleans for what the engine uses,
// and a comma-separated list of names for the listen log line.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {

class Ring;

struct Features {
  int kernel_major = 0;
  int kernel_minor = 0;
  uint32_t setup_flags = 0;
  uint32_t feature_bits = 0;
  uint8_t last_op = 0;
  bool op_supported[64] = {};

  bool defer_taskrun = false;    // 6.1
  bool single_issuer = false;    // 6.0
  bool no_sqarray = false;       // 6.6
  bool ext_arg = false;          // 5.11: wait with a timeout
  bool pbuf_ring = false;        // 5.19 (IORING_REGISTER_PBUF_RING)
  bool multishot = false;        // 6.0: multishot recv (multishot accept is 5.19)
  bool send_zc = false;          // 6.0: SEND_ZC / SENDMSG_ZC
  bool writev_fixed = false;     // 6.15: opcode 61
  bool cancel_fd_fixed = false;  // 6.0
  bool sqpoll = false;           // the ring was made with SQPOLL (EngineConfig::sqpoll_idle_ms)
  bool attached = false;         // ... sharing another ring's SQ thread (ATTACH_WQ)

  bool op(unsigned opcode) const { return opcode < 64 && op_supported[opcode]; }
  // e.g. "defer_taskrun,single_issuer,no_sqarray,pbuf_ring,multishot,send_zc,writev_fixed";
  // "sqpoll" and "attached" last, when on
  std::string names() const;
};

// Fills features from the ring's setup result, uname(2) and IORING_REGISTER_PROBE.
int detect_features(Ring& ring, Features* out);
// "6.18" from uname(2); false when it does not parse.
bool kernel_version(int* major, int* minor);

}  // namespace ringcast
