#include "handshake.h"

#include <strings.h>
#include <cstdint>
#include <cstring>

#include "sha1.h"

namespace loadgen {
namespace {

// The response head is tiny; a server sending more than this before the blank line is broken.
constexpr size_t kMaxHead = 8192;

std::string trim(const char* b, const char* e) {
  while (b < e && (*b == ' ' || *b == '\t')) b++;
  while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
  return std::string(b, e);
}

bool header_is(const char* b, const char* colon, const char* name) {
  size_t n = std::strlen(name);
  return size_t(colon - b) == n && strncasecmp(b, name, n) == 0;
}

bool contains_token(const std::string& value, const char* token) {
  // Connection may list several tokens ("keep-alive, Upgrade"); compare case-insensitively.
  size_t n = std::strlen(token);
  for (size_t i = 0; i + n <= value.size(); i++) {
    if (strncasecmp(value.c_str() + i, token, n) == 0) return true;
  }
  return false;
}

}  // namespace

std::string make_websocket_key(uint64_t seed) {
  uint8_t nonce[16];
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < 16; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    nonce[i] = uint8_t(x);
  }
  return base64_encode(nonce, sizeof nonce);
}

bool offers_deflate(const char* data, size_t len) {
  std::string head(data, len);
  for (char& ch : head) ch = char(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
  size_t at = head.find("\r\nsec-websocket-extensions:");
  return at != std::string::npos && head.find("permessage-deflate", at) < head.find("\r\n", at + 2);
}

std::string build_upgrade_request(const std::string& host_port, const std::string& target,
                                  const std::string& key, const std::string& extensions) {
  std::string r;
  r.reserve(256);
  r += "GET " + target + " HTTP/1.1\r\n";
  r += "Host: " + host_port + "\r\n";
  r += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  r += "Sec-WebSocket-Key: " + key + "\r\n";
  if (!extensions.empty()) r += "Sec-WebSocket-Extensions: " + extensions + "\r\n";
  r += "Sec-WebSocket-Version: 13\r\n\r\n";
  return r;
}

HandshakeResult check_upgrade_response(const char* data, size_t len, const std::string& expected_accept) {
  HandshakeResult res;
  const char* end = static_cast<const char*>(memmem(data, len, "\r\n\r\n", 4));
  if (!end) {
    if (len > kMaxHead) {
      res.state = HandshakeResult::Rejected;
      res.error = "response head too large";
    }
    return res;
  }
  res.header_bytes = size_t(end - data) + 4;
  res.state = HandshakeResult::Rejected;
  const char* line_end = static_cast<const char*>(memmem(data, size_t(end - data) + 2, "\r\n", 2));
  std::string status(data, line_end);
  if (status.compare(0, 9, "HTTP/1.1 ") != 0 || status.compare(9, 3, "101") != 0) {
    res.error = "expected 101, got: " + status.substr(0, 80);
    return res;
  }
  bool upgrade = false, connection = false, accept_ok = false;
  std::string accept_seen;
  for (const char* p = line_end + 2; p < end;) {
    const char* e = static_cast<const char*>(memmem(p, size_t(end + 2 - p), "\r\n", 2));
    const char* colon = static_cast<const char*>(memchr(p, ':', size_t(e - p)));
    if (colon) {
      std::string value = trim(colon + 1, e);
      if (header_is(p, colon, "Upgrade")) upgrade = strcasecmp(value.c_str(), "websocket") == 0;
      if (header_is(p, colon, "Connection")) connection = contains_token(value, "upgrade");
      if (header_is(p, colon, "Sec-WebSocket-Accept")) {
        accept_seen = value;
        accept_ok = value == expected_accept;
      }
    }
    p = e + 2;
  }
  if (!upgrade)
    res.error = "missing Upgrade: websocket";
  else if (!connection)
    res.error = "missing Connection: Upgrade";
  else if (!accept_ok)
    res.error = "bad Sec-WebSocket-Accept '" + accept_seen + "', expected '" + expected_accept + "'";
  else
    res.state = HandshakeResult::Accepted;
  return res;
}

}  // namespace loadgen
