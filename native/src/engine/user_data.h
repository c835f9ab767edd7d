// Named bit-packing for the two integers that cross boundaries: the connection id handed to the
// layer above (and to JavaScript, as a Uint32Array element), and the user_data of every SQE.
//
//   ConnId   (32 bits): generation:14 | slot:18
//   user_data (64 bits): op:8 | unused:24 | ConnId:32
//
// 18 slot bits = 262,144 connections per ring (one worker per core). 14 generation bits: a slot is
// reused first-in-first-out, so an id goes stale only after 16,384 reuses of its slot.
#pragma once

#include <cstdint>

namespace ringcast {

using ConnId = uint32_t;

constexpr uint32_t kSlotBits = 18;
constexpr uint32_t kGenBits = 14;
constexpr uint32_t kMaxSlots = 1u << kSlotBits;
constexpr uint32_t kSlotMask = kMaxSlots - 1;
constexpr uint32_t kGenMask = (1u << kGenBits) - 1;

constexpr ConnId make_conn_id(uint32_t slot, uint32_t gen) {
  return ((gen & kGenMask) << kSlotBits) | (slot & kSlotMask);
}
constexpr uint32_t conn_slot(ConnId id) { return id & kSlotMask; }
constexpr uint32_t conn_gen(ConnId id) { return (id >> kSlotBits) & kGenMask; }
constexpr uint32_t next_gen(uint32_t gen) { return (gen + 1) & kGenMask; }

// What an SQE was for; decides which handler its CQE goes to.
enum class Op : uint8_t {
  kNone = 0,
  kAccept,      // multishot accept on the listening socket (no connection)
  kAcceptWait,  // EMFILE/ENFILE back-off timeout before re-arming accept
  kRecv,        // multishot recv into the buffer ring
  kSend,        // gathered SENDMSG of the connection's queue
  kSendZc,      // SENDMSG_ZC: a result CQE, then a notification CQE
  kCancel,      // ASYNC_CANCEL of every op on a fixed file
  kShutdown,    // SHUTDOWN(SHUT_WR) after the last send of a closing connection
  kCount,
};

constexpr uint64_t pack_user_data(Op op, ConnId id) { return (static_cast<uint64_t>(op) << 56) | id; }
constexpr Op user_data_op(uint64_t ud) { return static_cast<Op>(ud >> 56); }
constexpr ConnId user_data_conn(uint64_t ud) { return static_cast<ConnId>(ud & 0xffffffffu); }

const char* op_name(Op op);

}  // namespace ringcast
