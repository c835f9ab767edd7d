// HTTP/1.1 request head parser (RFC 7230 sections 3, 3.3, 5.4 and 6), pure and incremental.
//
// Feeding model: the caller passes the WHOLE head received so far each time (the same
// bytes again plus whatever arrived), not only the new chunk. The parser remembers how far
// it has scanned, so each byte is looked at once while searching for the end of the head,
// and the request is parsed in one pass once the blank line has arrived. Field values are
// kept as offsets (Slice) into that buffer, so the caller may move or grow it between calls;
// HttpRequestHead::base is the buffer of the last parse() call and views use it.
// When the whole head arrives in one receive (the common case) the caller can parse straight
// from the receive buffer and copy nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ringcast::http {

// Defaults for HttpLimits, for tests and fuzzers: the server passes --max-head-bytes,
// --max-headers and --max-payload from config/defaults.ts.
constexpr size_t kDefaultMaxHeadBytes = 8 * 1024;       // request line + fields + blank line
constexpr size_t kDefaultMaxHeaders = 64;               // header fields
constexpr uint64_t kDefaultMaxBodyBytes = 1024 * 1024;  // Content-Length, bytes

struct HttpLimits {
  size_t max_head_bytes = kDefaultMaxHeadBytes;
  size_t max_headers = kDefaultMaxHeaders;
  uint64_t max_body_bytes = kDefaultMaxBodyBytes;
};

// Status codes this parser produces (RFC 7231 section 6, RFC 6585 section 5).
constexpr int kStatusBadRequest = 400;
constexpr int kStatusLengthRequired = 411;
constexpr int kStatusPayloadTooLarge = 413;
constexpr int kStatusHeaderFieldsTooLarge = 431;
constexpr int kStatusVersionNotSupported = 505;

// The reason of the 431 for a head with more than max_headers fields (the other 431 is size).
constexpr std::string_view kReasonTooManyFields = "too many header fields";

enum class HttpMethod : uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kOptions,
  kPatch,
  kConnect,
  kTrace,
  kOther
};

// A range of the caller's buffer.
struct Slice {
  uint32_t offset = 0;
  uint32_t length = 0;
};

struct HttpField {
  Slice name;   // as received; compare with iequals()
  Slice value;  // OWS trimmed
};

struct HttpRequestHead {
  const char* base = nullptr;  // buffer of the last parse() call; Slices index into it
  HttpMethod method = HttpMethod::kOther;
  Slice method_text;
  Slice target;  // request-target as received, e.g. "/ws?topics=a"
  uint8_t version_major = 0;
  uint8_t version_minor = 0;
  std::vector<HttpField> fields;
  uint64_t content_length = 0;  // 0 when absent
  bool chunked = false;         // Transfer-Encoding: chunked (content_length is 0); decode
                                // the body with ChunkedDecoder (http_chunked.h)
  bool keep_alive = false;      // RFC 7230 section 6.3
  size_t head_bytes = 0;        // bytes of the head including the blank line; the body
                                // (content_length bytes) or the next request starts here

  std::string_view text(Slice s) const { return {base + s.offset, s.length}; }
  // First field with this name (case-insensitive), or an empty view with found = false.
  std::string_view field(std::string_view name, bool* found = nullptr) const;
  size_t field_count(std::string_view name) const;
  // Whether any field with this name, read as a comma-separated token list (RFC 7230
  // section 7), holds token. Used for Connection (section 6.1) and Upgrade (section 6.7).
  bool field_has_token(std::string_view name, std::string_view token) const;
  bool version_at_least(int major, int minor) const {
    return version_major > major || (version_major == major && version_minor >= minor);
  }
};

enum class HttpParseState : uint8_t { kNeedMore, kDone, kError };

struct HttpParseResult {
  HttpParseState state = HttpParseState::kNeedMore;
  int status = 0;           // for kError: the response status to send, then close
  const char* reason = "";  // for kError: a short fixed text for logs and tests
};

class HttpHeadParser {
 public:
  explicit HttpHeadParser(HttpLimits limits = {}) : limits_(limits) {}

  // buf/len: every byte of this request received so far (see the top of this file).
  // kDone and kError are sticky until reset().
  HttpParseResult parse(const char* buf, size_t len);

  const HttpRequestHead& head() const { return head_; }
  // For the next request on a keep-alive connection; keeps allocated capacity.
  void reset();

 private:
  HttpParseResult scan(const char* buf, size_t len);
  HttpParseResult parse_head(const char* buf);
  HttpParseResult parse_request_line(std::string_view line, uint32_t offset);
  HttpParseResult parse_field_line(std::string_view line, uint32_t offset);
  HttpParseResult check_semantics();
  HttpParseResult check_content_length();
  HttpParseResult check_transfer_encoding();
  HttpParseResult fail(int status, const char* reason);

  HttpLimits limits_;
  HttpRequestHead head_;
  HttpParseResult result_;
  size_t scanned_ = 0;     // bytes already examined by scan()
  size_t line_start_ = 0;  // offset of the line being scanned
  size_t head_start_ = 0;  // offset of the request line (after ignored empty lines)
  size_t lines_ = 0;       // complete non-empty lines so far
  bool prev_cr_ = false;
};

}  // namespace ringcast::http
