// permessage-deflate (RFC 7692) on the receiving side: one raw inflater for every connection.
// The generator offers server_no_context_takeover, so each compressed message is a stream of
// its own: the inflater is reset before each one and the 00 00 ff ff tail (section 7.2.2)
// is appended. Bounded: a message inflating past `max_bytes` is refused.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <zlib.h>

namespace loadgen {

class Inflater {
 public:
  explicit Inflater(size_t max_bytes = 64 << 20);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // The inflated message in `out` (replaced); false on corrupt data or past max_bytes.
  bool inflate(const uint8_t* data, size_t len, std::vector<uint8_t>& out);

 private:
  z_stream z_{};
  bool ready_ = false;
  size_t max_bytes_;
};

}  // namespace loadgen
