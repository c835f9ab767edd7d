// Decoder of a chunked request body (RFC 7230 section 4.1), pure, incremental and in place.
//
//   chunked-body = *chunk last-chunk trailer-part CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
//
// Feeding model: the caller keeps the body decoded so far followed by the bytes not read yet
// in one buffer, and passes only the unread part: feed(in, len) reads a prefix of it and writes
// the chunk data it found to the start of `in` (data is never longer than its encoding, so
// this is safe in place). The caller then drops in[produced, consumed) and the decoded body
// grows by `produced`; after kDone, the bytes past `consumed` belong to the next request.
//
//   ChunkedStep st = dec.feed(buf + body, len - body);
//   erase(buf + body + st.produced, buf + body + st.consumed);
//   body += st.produced;
//
// Chunk extensions are skipped and trailer fields ignored (section 4.1.2 lets a recipient do
// both). kDone and kError are sticky.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringcast::http {

constexpr size_t kDefaultMaxChunkLineBytes = 4096;    // chunk-size line with its extensions
constexpr size_t kDefaultMaxTrailerBytes = 8 * 1024;  // every trailer line together

struct ChunkedLimits {
  uint64_t max_body_bytes;  // decoded bytes; past it: 413
  size_t max_line_bytes = kDefaultMaxChunkLineBytes;
  size_t max_trailer_bytes = kDefaultMaxTrailerBytes;
};

enum class ChunkedState : uint8_t { kNeedMore, kDone, kError };

struct ChunkedStep {
  ChunkedState state = ChunkedState::kNeedMore;
  size_t consumed = 0;      // input bytes read by this call
  size_t produced = 0;      // body bytes this call wrote at the start of the input
  int status = 0;           // for kError: 400, 413 or 431
  const char* reason = "";  // for kError: a short fixed text
};

class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(ChunkedLimits limits) : limits_(limits) {}

  ChunkedStep feed(uint8_t* in, size_t len);
  uint64_t body_bytes() const { return body_; }

 private:
  enum class Phase : uint8_t {
    kSize,          // hex digits of chunk-size
    kExtension,     // after the size: chunk extensions up to CR
    kSizeLf,        // LF ending the size line
    kData,          // chunk-data
    kDataCr,        // CR after chunk-data
    kDataLf,        // LF after chunk-data
    kTrailerStart,  // a trailer line, or the CR of the final CRLF
    kTrailer,       // inside a trailer line
    kTrailerLf,     // LF ending a trailer line
    kFinalLf,       // LF of the final CRLF
    kStopped,       // done or failed: result_ says which
  };

  bool step_byte(uint8_t c);  // false once stopped
  bool expect(uint8_t c, uint8_t want, Phase next, const char* reason);
  void fail(int status, const char* reason);

  ChunkedLimits limits_;
  Phase phase_ = Phase::kSize;
  bool have_digit_ = false;
  uint64_t chunk_left_ = 0;  // chunk-size while reading it, then data bytes still to come
  uint64_t body_ = 0;        // decoded bytes so far
  size_t line_bytes_ = 0;    // bytes of the current size line, or of the trailers so far
  ChunkedStep result_;       // the sticky outcome once stopped
};

}  // namespace ringcast::http
