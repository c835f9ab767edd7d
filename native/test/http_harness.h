// Feeds a request head to an HttpHeadParser the way the engine does: the accumulated
// buffer, growing by chunks. Each call gets a fresh exactly-sized heap copy, so
// AddressSanitizer reports a read past what the parser was given.
#pragma once

#include <cstring>
#include <memory>
#include <string>

#include "http/head.h"
#include "ws_test.h"

namespace wstest {

struct ParsedHead {
  ringcast::http::HttpParseResult result;
  ringcast::http::HttpHeadParser parser;
  std::unique_ptr<char[]> buffer;  // the last buffer given to parse(); head().base points here
};

inline ParsedHead parse_head(std::string_view request, Split how, uint64_t seed = 1,
                             ringcast::http::HttpLimits limits = {}) {
  ParsedHead out{{}, ringcast::http::HttpHeadParser(limits), nullptr};
  size_t fed = 0;
  for (size_t n : chunk_sizes(request.size(), how, seed)) {
    fed += n;
    out.buffer = std::make_unique<char[]>(fed);
    std::memcpy(out.buffer.get(), request.data(), fed);
    out.result = out.parser.parse(out.buffer.get(), fed);
    if (out.result.state != ringcast::http::HttpParseState::kNeedMore) break;
  }
  return out;
}

inline std::string outcome(const ringcast::http::HttpParseResult& r) {
  switch (r.state) {
    case ringcast::http::HttpParseState::kNeedMore:
      return "incomplete";
    case ringcast::http::HttpParseState::kDone:
      return "done";
    case ringcast::http::HttpParseState::kError:
      return "error:" + std::to_string(r.status);
  }
  return "?";
}

// Whole, byte by byte and at random split points; every way must give `expected`.
inline void expect_outcome_every_split(std::string_view request, const std::string& expected,
                                       ringcast::http::HttpLimits limits = {}) {
  for (Split how : {Split::kWhole, Split::kBytewise, Split::kRandom}) {
    const int seeds = how == Split::kRandom ? 4 : 1;
    for (int seed = 1; seed <= seeds; seed++) {
      const std::string got = outcome(parse_head(request, how, uint64_t(seed), limits).result);
      if (got != expected) {
        report_failure(__FILE__, __LINE__,
                       std::string(split_name(how)) + " split, seed " + std::to_string(seed) + ": got " +
                           got + " want " + expected);
      }
    }
  }
}

}  // namespace wstest
