#include "http/chunked.h"

#include <algorithm>
#include <cstring>

#include "http/head.h"

namespace ringcast::http {

namespace {

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// What may stand in an extension or a trailer line: HTAB, visible ASCII, SP, obs-text.
bool is_line_byte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

}  // namespace

// The one byte `want` moves to `next`; anything else is a framing error.
bool ChunkedDecoder::expect(uint8_t c, uint8_t want, Phase next, const char* reason) {
  if (c != want) {
    fail(kStatusBadRequest, reason);
    return false;
  }
  phase_ = next;
  return true;
}

void ChunkedDecoder::fail(int status, const char* reason) {
  phase_ = Phase::kStopped;
  result_.state = ChunkedState::kError;
  result_.status = status;
  result_.reason = reason;
}

ChunkedStep ChunkedDecoder::feed(uint8_t* in, size_t len) {
  ChunkedStep st;
  if (phase_ == Phase::kStopped) {
    st = result_;  // sticky: nothing more is read
    return st;
  }
  size_t i = 0;
  while (i < len) {
    if (phase_ == Phase::kData) {
      // The bulk of the input: chunk data moves forward over the framing already read.
      const size_t n = size_t(std::min<uint64_t>(chunk_left_, len - i));
      if (st.produced != i) std::memmove(in + st.produced, in + i, n);
      st.produced += n;
      body_ += n;
      chunk_left_ -= n;
      i += n;
      if (chunk_left_ == 0) phase_ = Phase::kDataCr;
      continue;
    }
    const bool more = step_byte(in[i++]);
    if (!more) break;
  }
  st.consumed = i;
  if (phase_ == Phase::kStopped) {
    st.state = result_.state;
    st.status = result_.status;
    st.reason = result_.reason;
  }
  return st;
}

bool ChunkedDecoder::step_byte(uint8_t c) {
  switch (phase_) {
    case Phase::kSize: {
      if (++line_bytes_ > limits_.max_line_bytes) {
        fail(kStatusBadRequest, "chunk size line too long");
        return false;
      }
      const int v = hex_value(c);
      if (v >= 0) {
        // Checked before it grows: the size can neither wrap nor exceed what the body may hold.
        const uint64_t room = limits_.max_body_bytes - body_;
        if (uint64_t(v) > room || chunk_left_ > (room - uint64_t(v)) / 16) {
          fail(kStatusPayloadTooLarge, "chunked body too large");
          return false;
        }
        chunk_left_ = chunk_left_ * 16 + uint64_t(v);
        have_digit_ = true;
        return true;
      }
      if (!have_digit_) {
        fail(kStatusBadRequest, "chunk size expected");
        return false;
      }
      if (c == '\r') {
        phase_ = Phase::kSizeLf;
      } else if (c == ';' || c == ' ' || c == '\t') {
        phase_ = Phase::kExtension;  // BWS then ";" name[=value], skipped
      } else {
        fail(kStatusBadRequest, "invalid chunk size");
        return false;
      }
      return true;
    }
    case Phase::kExtension:
      if (++line_bytes_ > limits_.max_line_bytes) {
        fail(kStatusBadRequest, "chunk size line too long");
        return false;
      }
      if (c == '\r') {
        phase_ = Phase::kSizeLf;
      } else if (!is_line_byte(c)) {
        fail(kStatusBadRequest, "invalid chunk extension");
        return false;
      }
      return true;
    case Phase::kSizeLf:
      line_bytes_ = 0;
      have_digit_ = false;
      return expect(c, '\n', chunk_left_ == 0 ? Phase::kTrailerStart : Phase::kData,
                    "chunk size line not ended by CRLF");
    case Phase::kDataCr:
      return expect(c, '\r', Phase::kDataLf, "chunk data not followed by CRLF");
    case Phase::kDataLf:
      return expect(c, '\n', Phase::kSize, "chunk data not followed by CRLF");
    case Phase::kTrailerStart:
    case Phase::kTrailer:
      if (++line_bytes_ > limits_.max_trailer_bytes) {
        fail(kStatusHeaderFieldsTooLarge, "trailer fields too large");
        return false;
      }
      if (c == '\r') {
        phase_ = phase_ == Phase::kTrailerStart ? Phase::kFinalLf : Phase::kTrailerLf;
      } else if (!is_line_byte(c)) {
        fail(kStatusBadRequest, "invalid trailer field");
        return false;
      } else {
        phase_ = Phase::kTrailer;
      }
      return true;
    case Phase::kTrailerLf:
      return expect(c, '\n', Phase::kTrailerStart, "trailer field not ended by CRLF");
    case Phase::kFinalLf:
      if (expect(c, '\n', Phase::kStopped, "chunked body not ended by CRLF")) {
        result_.state = ChunkedState::kDone;
      }
      return false;  // done or failed: nothing more is read
    case Phase::kData:
    case Phase::kStopped:
      break;
  }
  return false;
}

}  // namespace ringcast::http
