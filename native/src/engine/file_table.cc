#include "engine/file_table.h"

#include <cerrno>
#include <cstring>

#include "engine/ring.h"

namespace ringcast {

int FileTable::init(Ring& ring, uint32_t capacity) {
  ring_ = &ring;
  io_uring_rsrc_register reg;
  std::memset(&reg, 0, sizeof reg);
  reg.nr = capacity;
  reg.flags = IORING_RSRC_REGISTER_SPARSE;
  int r = ring.register_op(IORING_REGISTER_FILES2, &reg, sizeof reg);
  if (r < 0) return r;
  capacity_ = capacity;
  free_.resize(capacity);
  for (uint32_t i = 0; i < capacity; i++) free_[i] = i;
  free_head_ = 0;
  free_count_ = capacity;
  return 0;
}

int FileTable::update(uint32_t slot, int fd) {
  int32_t fds[1] = {fd};
  io_uring_rsrc_update up;
  std::memset(&up, 0, sizeof up);
  up.offset = slot;
  up.data = reinterpret_cast<uint64_t>(fds);
  int r = ring_->register_op(IORING_REGISTER_FILES_UPDATE, &up, 1);
  if (r < 0) return r;
  return r == 1 ? 0 : -EIO;
}

int FileTable::install(int fd) {
  if (free_count_ == 0) return -ENFILE;
  uint32_t slot = free_[free_head_];
  int r = update(slot, fd);
  if (r < 0) return r;
  free_head_ = (free_head_ + 1) % capacity_;
  free_count_--;
  return static_cast<int>(slot);
}

int FileTable::remove(uint32_t slot) {
  int r = update(slot, -1);
  size_t tail = (free_head_ + free_count_) % capacity_;
  free_[tail] = slot;
  free_count_++;
  return r;
}

}  // namespace ringcast
