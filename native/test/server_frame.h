// A server data frame (unmasked, FIN set) as the layer above encodes it before send() and
// fanout(): in production that is server/protocol/frame-writer.ts, the one place data frames are
// encoded; the native tests and the session fuzzer use this copy of it.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "ws/frame_writer.h"

namespace wstest {

inline std::vector<uint8_t> server_frame(ringcast::ws::Opcode op, const void* payload, size_t len) {
  std::vector<uint8_t> out(ringcast::ws::frame_header_size(len, false) + len);
  const size_t header = ringcast::ws::write_frame_header(out.data(), op, true, len);
  if (len != 0) std::memcpy(out.data() + header, payload, len);
  return out;
}

}  // namespace wstest
