#include "ws/mask.h"

#include <cstring>

namespace ringcast::ws {

void apply_mask(uint8_t* dst, const uint8_t* src, size_t len, const uint8_t key[kMaskKeyBytes],
                uint64_t offset) {
  // Rotate the key so that rotated[0] applies to src[0]; then it repeats every 4 bytes,
  // and 8 bytes of it form one word for the wide loop.
  uint8_t rotated[8];
  for (size_t k = 0; k < sizeof rotated; k++) rotated[k] = key[(offset + k) % kMaskKeyBytes];
  uint64_t wide;
  std::memcpy(&wide, rotated, sizeof wide);

  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t word;
    std::memcpy(&word, src + i, sizeof word);
    word ^= wide;
    std::memcpy(dst + i, &word, sizeof word);
  }
  for (; i < len; i++) dst[i] = src[i] ^ rotated[i % kMaskKeyBytes];
}

}  // namespace ringcast::ws
