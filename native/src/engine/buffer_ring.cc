#include "engine/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "engine/ring.h"

namespace ringcast {

static_assert(sizeof(io_uring_buf) == 16, "the kernel reads 16-byte buffer descriptors");

BufferRing::~BufferRing() { destroy(); }

void BufferRing::destroy() {
  if (registered_) {
    io_uring_buf_reg reg;
    std::memset(&reg, 0, sizeof reg);
    reg.bgid = group_;
    ring_->register_op(IORING_UNREGISTER_PBUF_RING, &reg, 1);
    registered_ = false;
  }
  if (br_) munmap(br_, br_len_);
  if (base_) munmap(base_, base_len_);
  br_ = nullptr;
  base_ = nullptr;
}

void BufferRing::abandon() {
  registered_ = false;  // the ring is gone, and its registration with it
  br_ = nullptr;
  base_ = nullptr;
}

int BufferRing::init(Ring& ring, uint16_t group, uint32_t count, uint32_t size) {
  if (count == 0 || count > 32768 || (count & (count - 1))) return -EINVAL;
  ring_ = &ring;
  group_ = group;
  count_ = count;
  size_ = size;
  br_len_ = count * sizeof(io_uring_buf);
  void* br = mmap(nullptr, br_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (br == MAP_FAILED) return br_ = nullptr, -errno;  // page aligned, as the kernel requires
  br_ = static_cast<uint8_t*>(br);
  base_len_ = static_cast<size_t>(count) * size;
  void* base = mmap(nullptr, base_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return base_ = nullptr, -errno;
  base_ = static_cast<uint8_t*>(base);

  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.ring_addr = reinterpret_cast<uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int r = ring.register_op(IORING_REGISTER_PBUF_RING, &reg, 1);
  if (r < 0) return r;
  registered_ = true;
  tail_ = 0;
  for (uint32_t i = 0; i < count; i++) add(static_cast<uint16_t>(i));
  publish();
  return 0;
}

void BufferRing::add(uint16_t bid) {
  io_uring_buf* b = entries() + (tail_ & (count_ - 1));
  b->addr = reinterpret_cast<uint64_t>(buffer(bid));
  b->len = size_;
  b->bid = bid;
  tail_++;
}

void BufferRing::recycle(uint16_t bid) {
  add(bid);
  out_--;
}

void BufferRing::publish() { __atomic_store_n(tail_word(), tail_, __ATOMIC_RELEASE); }

}  // namespace ringcast
