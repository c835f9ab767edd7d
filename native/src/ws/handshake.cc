#include "ws/handshake.h"

#include <cstdint>
#include <cstring>

#include "http/tokens.h"
#include "ws/base64.h"
#include "ws/sha1.h"

namespace ringcast::ws {

using http::HttpMethod;
using http::HttpRequestHead;
using http::kStatusBadRequest;

namespace {

// RFC 6455 section 1.3: the GUID appended to the key before hashing.
constexpr std::string_view kHandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

UpgradeCheck reject(int status, const char* reason, std::string_view extra = {}) {
  UpgradeCheck c;
  c.kind = UpgradeKind::kRejected;
  c.status = status;
  c.reason = reason;
  c.extra_headers = extra;
  return c;
}

bool is_valid_key(std::string_view key) {
  uint8_t nonce[kClientNonceBytes + 1];  // one spare byte: a longer key must not fit
  const long n = base64_decode(key.data(), key.size(), nonce, sizeof nonce);
  return n == long(kClientNonceBytes);
}

}  // namespace

UpgradeCheck check_upgrade(const HttpRequestHead& head) {
  // Not asking for a WebSocket at all: the router serves it as plain HTTP (a server may
  // ignore other Upgrade values, RFC 7230 section 6.7).
  if (!head.field_has_token("upgrade", "websocket")) return UpgradeCheck{};

  // Section 4.2.1 items 1-6, in order; any miss is 400 (section 4.2.1 closing paragraph)
  // except the version, which has its own answer (item 6 with section 4.4). The reasons are
  // the messages of the answer, word for word those of server/http/handshake.ts.
  if (head.method != HttpMethod::kGet) return reject(kStatusBadRequest, "WebSocket upgrade must use GET");
  if (!head.version_at_least(1, 1)) return reject(kStatusBadRequest, "WebSocket upgrade needs HTTP/1.1");
  if (head.field_count("host") != 1) return reject(kStatusBadRequest, "missing Host header");
  if (!head.field_has_token("connection", "upgrade")) {
    return reject(kStatusBadRequest, "Connection header must include Upgrade");
  }
  bool found = false;
  const std::string_view key = head.field("sec-websocket-key", &found);
  if (!found || head.field_count("sec-websocket-key") != 1 || !is_valid_key(key)) {
    return reject(kStatusBadRequest, "Sec-WebSocket-Key must be the base64 of 16 bytes");
  }
  const std::string_view version = head.field("sec-websocket-version", &found);
  if (!found || head.field_count("sec-websocket-version") != 1 || version != kWebSocketVersion) {
    return reject(kStatusUpgradeRequired, "Sec-WebSocket-Version must be 13", kVersionHeader);
  }
  UpgradeCheck ok;
  ok.kind = UpgradeKind::kOk;
  ok.key = key;
  return ok;
}

void compute_accept_key(std::string_view key, char out[kAcceptKeyChars]) {
  Sha1 hasher;
  hasher.update(reinterpret_cast<const uint8_t*>(key.data()), key.size());
  hasher.update(reinterpret_cast<const uint8_t*>(kHandshakeGuid.data()), kHandshakeGuid.size());
  uint8_t digest[kSha1DigestBytes];
  hasher.finish(digest);
  base64_encode(digest, sizeof digest, out);
}

size_t write_switching_protocols(char* out, size_t cap, std::string_view key,
                                 std::string_view extra_headers) {
  char accept[kAcceptKeyChars];
  compute_accept_key(key, accept);
  const std::string_view parts[] = {
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ",
      std::string_view(accept, kAcceptKeyChars), "\r\n", extra_headers, "\r\n"};
  size_t len = 0;
  for (std::string_view p : parts) len += p.size();
  if (len > cap) return 0;
  len = 0;
  for (std::string_view p : parts) {
    if (!p.empty()) std::memcpy(out + len, p.data(), p.size());  // an empty view may have a null data()
    len += p.size();
  }
  return len;
}

}  // namespace ringcast::ws
