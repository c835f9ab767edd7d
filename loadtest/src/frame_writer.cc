#include "frame_writer.h"

#include <cstring>

namespace loadgen {

void apply_mask(uint8_t* data, size_t len, const uint8_t key[4]) {
  // Word-at-a-time XOR: a 16 KiB publish is masked once per send, so this is on the hot path.
  uint64_t key8;
  uint8_t k[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::memcpy(&key8, k, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= key8;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < len; i++) data[i] ^= key[i & 3];
}

void append_client_frame(std::string& out, Opcode op, const char* payload, size_t len, uint32_t mask_key) {
  uint8_t head[14];
  size_t h = 0;
  head[h++] = uint8_t(0x80 | uint8_t(op));
  if (len < 126) {
    head[h++] = uint8_t(0x80 | len);
  } else if (len <= 0xffff) {
    head[h++] = 0x80 | 126;
    head[h++] = uint8_t(len >> 8);
    head[h++] = uint8_t(len);
  } else {
    head[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) head[h++] = uint8_t(uint64_t(len) >> (8 * i));
  }
  uint8_t key[4] = {uint8_t(mask_key >> 24), uint8_t(mask_key >> 16), uint8_t(mask_key >> 8),
                    uint8_t(mask_key)};
  std::memcpy(head + h, key, 4);
  h += 4;
  size_t start = out.size();
  out.append(reinterpret_cast<const char*>(head), h);
  out.append(payload, len);
  apply_mask(reinterpret_cast<uint8_t*>(&out[start + h]), len, key);
}

}  // namespace loadgen
