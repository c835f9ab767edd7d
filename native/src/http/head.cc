#include "http/head.h"

#include <algorithm>

#include "http/tokens.h"

namespace ringcast::http {

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHttpSlash = "HTTP/";
constexpr size_t kVersionChars = 8;                        // "HTTP/" DIGIT "." DIGIT, RFC 7230 section 2.6
constexpr uint64_t kLargestBodyLimit = uint64_t(1) << 60;  // keeps value * 10 in range

struct MethodName {
  std::string_view name;
  HttpMethod method;
};
constexpr MethodName kMethods[] = {
    {"GET", HttpMethod::kGet},     {"HEAD", HttpMethod::kHead},       {"POST", HttpMethod::kPost},
    {"PUT", HttpMethod::kPut},     {"DELETE", HttpMethod::kDelete},   {"OPTIONS", HttpMethod::kOptions},
    {"PATCH", HttpMethod::kPatch}, {"CONNECT", HttpMethod::kConnect}, {"TRACE", HttpMethod::kTrace},
};

// Methods are case-sensitive (RFC 7231 section 4.1): "get" is some other method.
HttpMethod method_of(std::string_view text) {
  for (const MethodName& m : kMethods) {
    if (m.name == text) return m.method;
  }
  return HttpMethod::kOther;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Every element of the comma-separated lists in the fields called `name` (RFC 7230 section 7),
// OWS trimmed, empty ones included, in order; stops when fn returns false.
template <typename Fn>
void for_each_element(const HttpRequestHead& h, std::string_view name, Fn&& fn) {
  for (const HttpField& f : h.fields) {
    if (!iequals(h.text(f.name), name)) continue;
    std::string_view list = h.text(f.value);
    while (true) {
      const size_t comma = list.find(',');
      if (!fn(trim_ows(list.substr(0, comma)))) return;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
}

bool all_tchar(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// request-target: we accept any non-empty run of visible ASCII (origin-form and friends,
// RFC 7230 section 5.3); the router decides what it means.
bool is_target(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

Slice slice_at(uint32_t base, std::string_view whole, std::string_view part) {
  return Slice{uint32_t(base + (part.data() - whole.data())), uint32_t(part.size())};
}

}  // namespace

std::string_view HttpRequestHead::field(std::string_view name, bool* found) const {
  for (const HttpField& f : fields) {
    if (iequals(text(f.name), name)) {
      if (found) *found = true;
      return text(f.value);
    }
  }
  if (found) *found = false;
  return {};
}

size_t HttpRequestHead::field_count(std::string_view name) const {
  return size_t(std::count_if(fields.begin(), fields.end(),
                              [&](const HttpField& f) { return iequals(text(f.name), name); }));
}

bool HttpRequestHead::field_has_token(std::string_view name, std::string_view token) const {
  for (const HttpField& f : fields) {
    if (iequals(text(f.name), name) && list_has_token(text(f.value), token)) return true;
  }
  return false;
}

void HttpHeadParser::reset() {
  std::vector<HttpField> fields = std::move(head_.fields);
  fields.clear();
  *this = HttpHeadParser(limits_);
  head_.fields = std::move(fields);
}

HttpParseResult HttpHeadParser::fail(int status, const char* reason) {
  result_ = HttpParseResult{HttpParseState::kError, status, reason};
  return result_;
}

HttpParseResult HttpHeadParser::parse(const char* buf, size_t len) {
  if (result_.state != HttpParseState::kNeedMore) {
    head_.base = buf;
    return result_;
  }
  return scan(buf, len);
}

// Finds the blank line that ends the head, checking line endings and the limits as bytes
// arrive so an oversized or malformed head fails before it is complete.
HttpParseResult HttpHeadParser::scan(const char* buf, size_t len) {
  const size_t limit = std::min(len, limits_.max_head_bytes);
  for (size_t i = scanned_; i < limit; i++) {
    const char c = buf[i];
    // RFC 7230 section 3.5 lets a server accept a bare LF; we require CRLF and reject
    // both bare CR and bare LF, which closes the door on request smuggling by line ending.
    if (prev_cr_ && c != '\n') return fail(kStatusBadRequest, "CR not followed by LF");
    if (c == '\n' && !prev_cr_) return fail(kStatusBadRequest, "bare LF");
    prev_cr_ = c == '\r';
    if (c != '\n') continue;

    const bool empty_line = i + 1 - line_start_ == kCrlf.size();
    line_start_ = i + 1;
    if (!empty_line) {
      lines_++;
      if (lines_ - 1 > limits_.max_headers) {
        return fail(kStatusHeaderFieldsTooLarge, kReasonTooManyFields.data());
      }
    } else if (lines_ == 0) {
      head_start_ = i + 1;  // empty lines before the request line are ignored (section 3.5)
    } else {
      scanned_ = i + 1;
      head_.head_bytes = i + 1;
      head_.base = buf;
      return parse_head(buf);
    }
  }
  scanned_ = limit;
  if (limit == limits_.max_head_bytes) return fail(kStatusHeaderFieldsTooLarge, "head too large");
  return result_;
}

HttpParseResult HttpHeadParser::parse_head(const char* buf) {
  // Lines between head_start_ and the final CRLF; each ends with CRLF (checked by scan).
  const size_t end = head_.head_bytes - kCrlf.size();
  size_t pos = head_start_;
  bool first = true;
  while (pos < end) {
    const std::string_view rest(buf + pos, end - pos);
    const size_t eol = rest.find(kCrlf);
    const std::string_view line = rest.substr(0, eol);
    const HttpParseResult r =
        first ? parse_request_line(line, uint32_t(pos)) : parse_field_line(line, uint32_t(pos));
    if (r.state == HttpParseState::kError) return r;
    first = false;
    pos += line.size() + kCrlf.size();
  }
  return check_semantics();
}

// request-line = method SP request-target SP HTTP-version (RFC 7230 section 3.1.1).
HttpParseResult HttpHeadParser::parse_request_line(std::string_view line, uint32_t offset) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(kStatusBadRequest, "bad request line");
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(kStatusBadRequest, "bad request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);

  if (!all_tchar(method)) return fail(kStatusBadRequest, "bad method");
  if (!is_target(target)) return fail(kStatusBadRequest, "bad request target");
  if (version.size() != kVersionChars || version.substr(0, kHttpSlash.size()) != kHttpSlash ||
      !is_digit(version[5]) || version[6] != '.' || !is_digit(version[7])) {
    return fail(kStatusBadRequest, "bad HTTP version");
  }
  head_.version_major = uint8_t(version[5] - '0');
  head_.version_minor = uint8_t(version[7] - '0');
  if (head_.version_major != 1) return fail(kStatusVersionNotSupported, "HTTP version not 1.x");

  head_.method = method_of(method);
  head_.method_text = slice_at(offset, line, method);
  head_.target = slice_at(offset, line, target);
  return result_;
}

// header-field = field-name ":" OWS field-value OWS (RFC 7230 section 3.2).
HttpParseResult HttpHeadParser::parse_field_line(std::string_view line, uint32_t offset) {
  // A line starting with whitespace is obs-fold; section 3.2.4 lets us reject it with 400.
  if (line.front() == ' ' || line.front() == '\t') return fail(kStatusBadRequest, "obs-fold");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return fail(kStatusBadRequest, "field without colon");
  const std::string_view name = line.substr(0, colon);
  // Whitespace before the colon makes the name invalid: section 3.2.4 requires 400.
  if (!all_tchar(name)) return fail(kStatusBadRequest, "bad field name");
  const std::string_view raw_value = line.substr(colon + 1);
  for (char c : raw_value) {
    if (!is_field_value_char(static_cast<unsigned char>(c))) {
      return fail(kStatusBadRequest, "bad field value");
    }
  }
  const std::string_view value = trim_ows(raw_value);
  head_.fields.push_back(HttpField{slice_at(offset, line, name), slice_at(offset, line, value)});
  return result_;
}

HttpParseResult HttpHeadParser::check_semantics() {
  // Section 5.4: a 1.1 request without Host, or any request with several, gets 400.
  const size_t hosts = head_.field_count("host");
  if (hosts > 1 || (hosts == 0 && head_.version_at_least(1, 1))) {
    return fail(kStatusBadRequest, "missing or repeated Host");
  }
  if (head_.field_count("transfer-encoding") > 0) {
    const HttpParseResult te = check_transfer_encoding();
    if (te.state == HttpParseState::kError) return te;
  } else {
    const HttpParseResult cl = check_content_length();
    if (cl.state == HttpParseState::kError) return cl;
  }

  // Section 6.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
  if (head_.field_has_token("connection", "close")) {
    head_.keep_alive = false;
  } else if (head_.version_at_least(1, 1)) {
    head_.keep_alive = true;
  } else {
    head_.keep_alive = head_.field_has_token("connection", "keep-alive");
  }
  result_ = HttpParseResult{HttpParseState::kDone, 0, ""};
  return result_;
}

// Section 3.3.3 item 3: a body framed by chunked, and nothing else. Chunked under another
// coding (e.g. "gzip, chunked") would hand the layer above bytes it cannot read, a coding that
// does not end in chunked cannot frame a request, and Content-Length beside Transfer-Encoding
// is how requests are smuggled past proxies: all 400.
HttpParseResult HttpHeadParser::check_transfer_encoding() {
  if (head_.field_count("content-length") > 0) {
    return fail(kStatusBadRequest, "both Transfer-Encoding and Content-Length");
  }
  size_t codings = 0;
  bool chunked = false;
  for_each_element(head_, "transfer-encoding", [&](std::string_view element) {
    if (!element.empty()) {  // section 7: empty list elements do not count
      codings++;
      chunked = iequals(element, "chunked");
    }
    return true;
  });
  if (codings != 1 || !chunked) return fail(kStatusBadRequest, "unsupported transfer coding");
  head_.chunked = true;
  return result_;
}

// Content-Length = 1*DIGIT (section 3.3.2). Repeated fields or a list of identical values
// are accepted; values that differ, or anything that is not digits, get 400 (3.3.3 item 4).
HttpParseResult HttpHeadParser::check_content_length() {
  // Digits stop counting past the limit, so a 30-digit length is "too large", not overflow.
  const uint64_t saturate = std::min(limits_.max_body_bytes, kLargestBodyLimit) + 1;
  bool seen = false;
  uint64_t length = 0;
  const char* bad = nullptr;
  for_each_element(head_, "content-length", [&](std::string_view element) {
    if (element.empty() || !std::all_of(element.begin(), element.end(), is_digit)) {
      bad = "bad Content-Length";
      return false;
    }
    uint64_t value = 0;
    for (char c : element) value = std::min(saturate, value * 10 + uint64_t(c - '0'));
    if (seen && value != length) {
      bad = "conflicting Content-Length";
      return false;
    }
    seen = true;
    length = value;
    return true;
  });
  if (bad) return fail(kStatusBadRequest, bad);
  if (length > limits_.max_body_bytes) return fail(kStatusPayloadTooLarge, "body too large");
  head_.content_length = length;
  return result_;
}

}  // namespace ringcast::http
