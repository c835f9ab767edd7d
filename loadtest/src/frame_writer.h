// Client-to-server frames: always masked with a fresh key (RFC 6455 section 5.3).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "frame_parser.h"

namespace loadgen {

// Appends one complete (FIN) frame to out.
void append_client_frame(std::string& out, Opcode op, const char* payload, size_t len, uint32_t mask_key);
// XORs data in place with the 4-byte key; byte i uses key[i % 4].
void apply_mask(uint8_t* data, size_t len, const uint8_t key[4]);

}  // namespace loadgen
