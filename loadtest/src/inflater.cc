#include "inflater.h"

namespace loadgen {
namespace {

constexpr int kRawWindowBits = -15;  // raw deflate, the largest window (any server's is <= it)
constexpr size_t kStep = 64 * 1024;
const uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};

}  // namespace

Inflater::Inflater(size_t max_bytes) : max_bytes_(max_bytes) {
  ready_ = inflateInit2(&z_, kRawWindowBits) == Z_OK;
}

Inflater::~Inflater() {
  if (ready_) inflateEnd(&z_);
}

bool Inflater::inflate(const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
  out.clear();
  if (!ready_ || inflateReset(&z_) != Z_OK) return false;
  const uint8_t* parts[2] = {data, kTail};
  const size_t sizes[2] = {len, sizeof kTail};
  for (int i = 0; i < 2; i++) {
    z_.next_in = const_cast<Bytef*>(parts[i]);
    z_.avail_in = uInt(sizes[i]);
    while (z_.avail_in > 0) {  // bounded: each round produces output or consumes input
      if (out.size() >= max_bytes_) return false;
      const size_t have = out.size();
      out.resize(have + kStep);
      z_.next_out = out.data() + have;
      z_.avail_out = uInt(kStep);
      const int r = ::inflate(&z_, Z_SYNC_FLUSH);
      out.resize(have + (kStep - z_.avail_out));
      if (r == Z_STREAM_END) break;
      if (r != Z_OK && r != Z_BUF_ERROR) return false;
      if (r == Z_BUF_ERROR && z_.avail_out != 0) return false;  // no progress possible
    }
  }
  return out.size() <= max_bytes_;
}

}  // namespace loadgen
