// Client-to-server masking (RFC 6455 section 5.3): payload byte i is XORed with
// mask_key[i mod 4]. The same operation masks and unmasks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::ws {

constexpr size_t kMaskKeyBytes = 4;

// dst[i] = src[i] ^ key[(offset + i) % 4] for i < len. dst may equal src (in place).
// offset is the position of src[0] within the frame payload, so a payload split across
// chunks unmasks with the right key byte. Works 8 bytes at a time.
void apply_mask(uint8_t* dst, const uint8_t* src, size_t len, const uint8_t key[kMaskKeyBytes],
                uint64_t offset);

}  // namespace ringcast::ws
