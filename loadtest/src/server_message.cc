#include "server_message.h"

#include <cstring>

namespace loadgen {
namespace {

const char* find(const char* b, const char* e, const char* key, size_t key_len) {
  if (b >= e) return nullptr;
  const char* p = static_cast<const char*>(memmem(b, size_t(e - b), key, key_len));
  return p ? p + key_len : nullptr;
}

// Unsigned integer after a key, allowing whitespace after the colon.
bool number_after(const char* b, const char* e, const char* key, size_t key_len, uint64_t& v) {
  const char* p = find(b, e, key, key_len);
  if (!p) return false;
  while (p < e && (*p == ' ' || *p == ':')) p++;
  if (p >= e || *p < '0' || *p > '9') return false;
  v = 0;
  while (p < e && *p >= '0' && *p <= '9') v = v * 10 + uint64_t(*p++ - '0');
  return true;
}

ServerMessage::Kind op_of(const char* b, const char* e) {
  const char* p = find(b, e, "\"op\"", 4);
  if (!p) return ServerMessage::Other;
  while (p < e && (*p == ' ' || *p == ':')) p++;
  if (e - p >= 5 && std::memcmp(p, "\"msg\"", 5) == 0) return ServerMessage::Msg;
  if (e - p >= 5 && std::memcmp(p, "\"ack\"", 5) == 0) return ServerMessage::Ack;
  if (e - p >= 5 && std::memcmp(p, "\"err\"", 5) == 0) return ServerMessage::Err;
  return ServerMessage::Other;
}

}  // namespace

bool scan_server_message(const char* text, size_t len, ServerMessage& out) {
  const char* e = text + len;
  out = ServerMessage();
  out.kind = op_of(text, e);
  if (out.kind == ServerMessage::Other) return false;
  if (out.kind != ServerMessage::Msg) {
    out.has_id = number_after(text, e, "\"id\"", 4, out.id);
    return true;
  }
  out.has_seq = number_after(text, e, "\"seq\"", 5, out.seq);
  // The stamp sits at the head of our data object, before the padding, so search from "data".
  const char* data = find(text, e, "\"data\"", 6);
  if (data) {
    out.has_stamp = number_after(data, e, "\"t\"", 3, out.sent_ns) &&
                    number_after(data, e, "\"n\"", 3, out.serial);
  }
  return out.has_seq;
}

}  // namespace loadgen
