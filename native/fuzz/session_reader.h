// What a reading client of the session fuzzer checks of the server's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sessionfuzz {

// A frame the server queued for a client: a send() that returned 0 must arrive (unless the
// connection overflowed); a fanout may have skipped it.
struct OutFrame {
  std::string payload;
  bool binary;
  bool must;
};

// What a reading client checks of the bytes it gets: HTTP responses (100, 101, final ones with
// Content-Length), after a 101 only whole unmasked server frames, the data frames in the order
// the server queued them, and nothing after a Close frame or a "Connection: close" response.
struct Reader {
  enum class State : uint8_t { kHttp, kFrames, kEnd } state = State::kHttp;
  std::string buf;
  size_t cursor = 0;          // into the client's OutFrame list
  bool skipped_must = false;  // a send() that returned 0 never arrived before a later frame
  bool got_close = false;
  uint16_t close_code = 0;
  uint64_t frames = 0;
  uint64_t responses = 0;

  // Returns an error, or null.
  const char* feed(const char* p, size_t n, const std::vector<OutFrame>& out);

 private:
  const char* http();
  const char* frame(const std::vector<OutFrame>& out, bool* more);
};

}  // namespace sessionfuzz
