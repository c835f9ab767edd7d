// The sparse fixed-file table: accepted sockets are installed into slots so every recv/send can
// use IOSQE_FIXED_FILE (no fdget/fdput per op). The real fd stays open beside the slot, because
// getpeername/setsockopt and `ss` need it. Slots are recycled first-in-first-out, so a just-freed
// slot is the last to be reused: late completions meet a generation bump long before a reuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringcast {

class Ring;

class FileTable {
 public:
  // Registers `capacity` empty slots (IORING_RSRC_REGISTER_SPARSE, 5.19). The kernel caps the
  // table at RLIMIT_NOFILE, so the caller sizes it from there. Returns 0 or -errno.
  int init(Ring& ring, uint32_t capacity);

  // Takes a free slot and points it at fd. Returns the slot, -ENFILE when full, or -errno.
  int install(int fd);
  // Empties the slot in the kernel's table and returns it to the free list.
  int remove(uint32_t slot);

  uint32_t capacity() const { return capacity_; }
  uint32_t in_use() const { return capacity_ - static_cast<uint32_t>(free_count_); }

 private:
  int update(uint32_t slot, int fd);

  Ring* ring_ = nullptr;
  uint32_t capacity_ = 0;
  std::vector<uint32_t> free_;  // FIFO of free slots, a ring of capacity_ entries
  size_t free_head_ = 0;
  size_t free_count_ = 0;
};

}  // namespace ringcast
