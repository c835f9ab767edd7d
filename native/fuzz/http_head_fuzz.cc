// libFuzzer target: the HTTP request head parser, the upgrade check and the chunked body
// decoder.
//
// Input: byte 0 seeds the split points, byte 1 bit 0 selects small limits, the rest is the
// request. The head is fed as the engine does (the accumulated buffer, growing by chunks),
// each call on an exactly-sized heap copy so ASan sees any read past the end. Invariants:
// every split gives the same outcome as one whole feed; a finished head's slices lie inside
// it and respect the limits; an error carries one of the documented statuses; an accepted
// upgrade has a 16-byte key and both response writers succeed. A chunked request's body is then
// decoded as the engine does (in place, in chunks, the gap dropped) whole and split: the same
// outcome, body and leftover either way, never past the body limit.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "http/chunked.h"
#include "http/head.h"
#include "http/response.h"
#include "ws/base64.h"
#include "ws/handshake.h"

using namespace ringcast::http;
using namespace ringcast::ws;

namespace {

constexpr size_t kControlBytes = 2;
constexpr size_t kResponseCap = 512;

void require(bool ok) {
  if (!ok) std::abort();
}

struct Fed {
  HttpParseResult result;
  HttpHeadParser parser;
  std::unique_ptr<char[]> buffer;
  size_t fed = 0;
};

// Grows the buffer by pseudo-random chunk sizes (seed 0: all at once).
Fed feed(const char* req, size_t len, uint8_t seed, const HttpLimits& limits) {
  Fed f{{}, HttpHeadParser(limits), nullptr, 0};
  uint32_t state = seed;
  while (true) {
    size_t step = len - f.fed;
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      step = std::min<size_t>(step, 1 + (state >> 16) % 64);
    }
    f.fed += step;
    f.buffer = std::make_unique<char[]>(f.fed);  // exact size: ASan sees one byte past it
    std::memcpy(f.buffer.get(), req, f.fed);
    f.result = f.parser.parse(f.buffer.get(), f.fed);
    if (f.result.state != HttpParseState::kNeedMore || f.fed == len) return f;
  }
}

bool inside(Slice s, size_t end) { return size_t(s.offset) + s.length <= end; }

void check_head(const HttpRequestHead& h, size_t fed, const HttpLimits& limits) {
  require(h.head_bytes <= fed && h.head_bytes <= limits.max_head_bytes);
  require(h.fields.size() <= limits.max_headers);
  require(h.content_length <= limits.max_body_bytes);
  require(inside(h.method_text, h.head_bytes) && inside(h.target, h.head_bytes));
  for (const HttpField& f : h.fields) {
    require(inside(f.name, h.head_bytes) && inside(f.value, h.head_bytes));
    require(f.name.length > 0);
  }
}

void check_upgrade_of(const HttpRequestHead& h) {
  const UpgradeCheck c = check_upgrade(h);
  char out[kResponseCap];
  if (c.kind == UpgradeKind::kOk) {
    uint8_t nonce[32];
    require(base64_decode(c.key.data(), c.key.size(), nonce, sizeof nonce) == 16);
    const size_t n = write_switching_protocols(out, sizeof out, c.key);
    require(n == kSwitchingProtocolsBytes);
    require(std::string_view(out + n - 4, 4) == "\r\n\r\n");
  } else if (c.kind == UpgradeKind::kRejected) {
    require(c.status == kStatusBadRequest || c.status == kStatusUpgradeRequired);
    require(write_error_response(out, sizeof out, c.status, c.reason, c.extra_headers) > 0);
  }
}

struct Decoded {
  ChunkedStep last;
  std::vector<uint8_t> buf;  // body, then whatever was not read
  uint64_t body = 0;
};

// As WsServer::read_body: append a chunk, feed the unread part, drop the gap.
Decoded decode_chunked(const uint8_t* in, size_t len, uint8_t seed, uint64_t max_body) {
  ChunkedDecoder dec(ChunkedLimits{max_body});
  Decoded d;
  size_t fed = 0;
  uint32_t state = seed;
  while (fed < len) {
    size_t step = len - fed;
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      step = std::min<size_t>(step, 1 + (state >> 16) % 64);
    }
    d.buf.insert(d.buf.end(), in + fed, in + fed + step);
    fed += step;
    const size_t body = size_t(dec.body_bytes());
    d.last = dec.feed(d.buf.data() + body, d.buf.size() - body);
    require(d.last.produced <= d.last.consumed && d.last.consumed <= d.buf.size() - body);
    d.buf.erase(d.buf.begin() + long(body + d.last.produced), d.buf.begin() + long(body + d.last.consumed));
    require(dec.body_bytes() == body + d.last.produced && dec.body_bytes() <= max_body);
    if (d.last.state != ChunkedState::kNeedMore) break;
  }
  d.buf.insert(d.buf.end(), in + fed, in + len);
  d.body = dec.body_bytes();
  return d;
}

void check_chunked(const uint8_t* body, size_t len, uint8_t seed, uint64_t max_body) {
  const Decoded whole = decode_chunked(body, len, 0, max_body);
  const Decoded split = decode_chunked(body, len, seed, max_body);
  require(whole.last.state == split.last.state && whole.last.status == split.last.status);
  if (split.last.state == ChunkedState::kError) {
    const int s = split.last.status;
    require(s == kStatusBadRequest || s == kStatusPayloadTooLarge || s == kStatusHeaderFieldsTooLarge);
  } else if (split.last.state == ChunkedState::kDone) {
    require(whole.body == split.body && whole.buf == split.buf);
  }
}

bool is_documented_status(int status) {
  switch (status) {
    case kStatusBadRequest:
    case kStatusLengthRequired:
    case kStatusPayloadTooLarge:
    case kStatusHeaderFieldsTooLarge:
    case kStatusVersionNotSupported:
      return true;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kControlBytes) return 0;
  HttpLimits limits;
  if (data[1] & 1) {
    limits.max_head_bytes = 200;
    limits.max_headers = 4;
    limits.max_body_bytes = 100;
  }
  const char* req = reinterpret_cast<const char*>(data + kControlBytes);
  const size_t len = size - kControlBytes;

  const Fed whole = feed(req, len, 0, limits);
  const Fed split = feed(req, len, data[0], limits);
  require(whole.result.state == split.result.state);
  require(whole.result.status == split.result.status);

  if (split.result.state == HttpParseState::kError) {
    require(is_documented_status(split.result.status));
  } else if (split.result.state == HttpParseState::kDone) {
    require(whole.parser.head().head_bytes == split.parser.head().head_bytes);
    check_head(split.parser.head(), split.fed, limits);
    check_upgrade_of(split.parser.head());
    const HttpRequestHead& h = split.parser.head();
    if (h.chunked) {
      const uint8_t* body = data + kControlBytes + h.head_bytes;
      check_chunked(body, len - h.head_bytes, data[0], limits.max_body_bytes);
    }
  }
  return 0;
}
