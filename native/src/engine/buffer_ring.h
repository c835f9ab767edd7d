// The provided buffer ring (IORING_REGISTER_PBUF_RING, 5.19) that every connection's multishot
// recv draws from: idle connections hold no receive memory. Only the ring of descriptors
// (16 bytes per buffer) is pinned; the buffers are ordinary memory, so they do not count
// against RLIMIT_MEMLOCK.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/uring_abi.h"

namespace ringcast {

class Ring;

class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  // count: a power of two up to 32768 (bids are 16 bits). size: bytes per buffer.
  int init(Ring& ring, uint16_t group, uint32_t count, uint32_t size);
  void destroy();
  // Forgets the buffers without unmapping them: for a ring closed with receives still in the
  // kernel, which may write into them until its asynchronous teardown ends (Engine::shutdown_all).
  void abandon();

  uint16_t group() const { return group_; }
  uint32_t count() const { return count_; }
  uint32_t buffer_size() const { return size_; }
  uint8_t* buffer(uint16_t bid) const { return base_ + static_cast<size_t>(bid) * size_; }

  // A CQE handed us buffer `bid`; the consumer holds it until recycle().
  void taken() { out_++; }
  // Gives the buffer back to the kernel; visible to it after the next publish().
  void recycle(uint16_t bid);
  // Release-stores the tail so the kernel sees every recycled buffer at once.
  void publish();
  // Buffers currently held by consumers (not in the ring).
  uint32_t out() const { return out_; }

 private:
  void add(uint16_t bid);
  // The UAPI's io_uring_buf_ring declares `bufs` as a flexible array behind an empty struct,
  // which is 1 byte in C++ (0 in C): its offsets are wrong here. So the layout is spelled out:
  // 16-byte io_uring_buf entries from offset 0, the 16-bit tail overlaid on entry 0 at byte 14.
  io_uring_buf* entries() const { return reinterpret_cast<io_uring_buf*>(br_); }
  uint16_t* tail_word() const { return reinterpret_cast<uint16_t*>(br_ + 14); }

  Ring* ring_ = nullptr;
  uint8_t* br_ = nullptr;
  size_t br_len_ = 0;
  uint8_t* base_ = nullptr;
  size_t base_len_ = 0;
  uint16_t group_ = 0;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  uint16_t tail_ = 0;  // local tail, published by publish()
  uint32_t out_ = 0;
  bool registered_ = false;
};

}  // namespace ringcast
