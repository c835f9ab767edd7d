#include "http/response.h"

#include <cstring>

namespace ringcast::http {

namespace {

constexpr size_t kMaxDecimalChars = 20;

struct StatusText {
  int status;
  std::string_view phrase;
};
constexpr StatusText kPhrases[] = {
    {101, "Switching Protocols"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {411, "Length Required"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
    {505, "HTTP Version Not Supported"},
};

// Appends to a fixed buffer; remembers overflow instead of checking at every call site.
class Writer {
 public:
  Writer(char* out, size_t cap) : out_(out), cap_(cap) {}
  Writer& put(std::string_view s) {
    if (len_ + s.size() > cap_) {
      overflow_ = true;
    } else if (!s.empty()) {  // an empty view may have a null data()
      std::memcpy(out_ + len_, s.data(), s.size());
      len_ += s.size();
    }
    return *this;
  }
  Writer& put_uint(unsigned long long v) {
    char digits[kMaxDecimalChars];
    size_t n = 0;
    do {
      digits[kMaxDecimalChars - 1 - n++] = char('0' + v % 10);
      v /= 10;
    } while (v != 0);
    return put(std::string_view(digits + kMaxDecimalChars - n, n));
  }
  // s as a JSON string literal (RFC 8259 section 7): quotes, backslashes and control
  // characters escaped.
  Writer& put_json_string(std::string_view s) {
    static const char kHex[] = "0123456789abcdef";
    put("\"");
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        const char esc[2] = {'\\', c};
        put(std::string_view(esc, 2));
      } else if (u < 0x20) {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        put(std::string_view(esc, 6));
      } else {
        put(std::string_view(&c, 1));
      }
    }
    return put("\"");
  }
  size_t length() const { return len_; }
  size_t finish() const { return overflow_ ? 0 : len_; }

 private:
  char* out_;
  size_t cap_;
  size_t len_ = 0;
  bool overflow_ = false;
};

}  // namespace

std::string_view reason_phrase(int status) {
  for (const StatusText& s : kPhrases) {
    if (s.status == status) return s.phrase;
  }
  return "Error";
}

size_t write_error_response(char* out, size_t cap, int status, std::string_view code, std::string_view msg,
                            std::string_view extra_headers) {
  // The body first, at the end of the buffer, to know its length; then moved behind the head.
  Writer body(out, cap);
  body.put("{\"error\":").put_json_string(code).put(",\"msg\":").put_json_string(msg).put("}");
  const size_t body_len = body.finish();
  if (body_len == 0) return 0;
  std::string_view phrase = reason_phrase(status);
  char head[512];
  Writer w(head, sizeof head);
  w.put("HTTP/1.1 ")
      .put_uint(unsigned(status))
      .put(" ")
      .put(phrase)
      .put("\r\nContent-Type: application/json\r\nContent-Length: ")
      .put_uint(body_len)
      .put("\r\nConnection: close\r\n")
      .put(extra_headers)
      .put("\r\n");
  const size_t head_len = w.finish();
  if (head_len == 0 || head_len + body_len > cap) return 0;
  std::memmove(out + head_len, out, body_len);
  std::memcpy(out, head, head_len);
  return head_len + body_len;
}

}  // namespace ringcast::http
