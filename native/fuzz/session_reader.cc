#include "session_reader.h"

#include <strings.h>

#include <cstdlib>
#include <cstring>

#include "ws/rfc6455.h"

namespace sessionfuzz {

using namespace ringcast;

namespace {

size_t find_ci(const std::string& hay, size_t end, const char* needle) {
  const size_t n = std::strlen(needle);
  for (size_t i = 0; i + n <= end; i++) {
    if (strncasecmp(hay.data() + i, needle, n) == 0) return i;
  }
  return std::string::npos;
}

}  // namespace

const char* Reader::feed(const char* p, size_t n, const std::vector<OutFrame>& out) {
  buf.append(p, n);
  for (;;) {
    if (buf.empty()) return nullptr;
    if (state == State::kEnd) return "bytes after the last response or the Close frame";
    bool more = false;
    const char* err = state == State::kHttp ? http() : frame(out, &more);
    if (err) return err;
    if (!more) return nullptr;
  }
}

const char* Reader::http() {
  const size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return buf.size() > 65536 ? "a response head past 64 KiB" : nullptr;
  if (buf.compare(0, 9, "HTTP/1.1 ") != 0 || end < 12) return "not an HTTP/1.1 response";
  const int status = std::atoi(buf.substr(9, 3).c_str());
  size_t body = 0;
  const size_t cl = find_ci(buf, end, "\r\nContent-Length:");
  if (cl != std::string::npos) body = std::strtoul(buf.c_str() + cl + 17, nullptr, 10);
  if (status != 101 && status != 100 && cl == std::string::npos) return "a response without Content-Length";
  if (buf.size() < end + 4 + body) return nullptr;
  const bool closes = find_ci(buf, end, "\r\nConnection: close") != std::string::npos;
  buf.erase(0, end + 4 + body);
  responses++;
  if (status == 101) state = State::kFrames;
  if (closes) state = State::kEnd;
  return buf.empty() ? nullptr : (state == State::kEnd ? "bytes after a Connection: close response" : http());
}

const char* Reader::frame(const std::vector<OutFrame>& out, bool* more) {
  if (buf.size() < 2) return nullptr;
  const uint8_t b0 = static_cast<uint8_t>(buf[0]), b1 = static_cast<uint8_t>(buf[1]);
  if ((b0 & ws::kRsvBits) || !(b0 & ws::kFinBit)) return "a server frame with RSV bits or without FIN";
  if (b1 & ws::kMaskBit) return "a masked server frame";
  const uint8_t op = b0 & ws::kOpcodeBits;
  size_t h = 2;
  uint64_t len = b1 & ws::kLength7Bits;
  if (len == ws::kLength16Marker || len == ws::kLength64Marker) {
    const size_t ext = len == ws::kLength16Marker ? 2 : 8;
    if (buf.size() < 2 + ext) return nullptr;
    len = 0;
    for (size_t i = 0; i < ext; i++) len = (len << 8) | static_cast<uint8_t>(buf[2 + i]);
    h += ext;
  }
  if (buf.size() < h + len) return nullptr;
  const std::string payload = buf.substr(h, len);
  buf.erase(0, h + len);
  frames++;
  *more = true;
  switch (static_cast<ws::Opcode>(op)) {
    case ws::Opcode::kText:
    case ws::Opcode::kBinary: {
      const bool binary = static_cast<ws::Opcode>(op) == ws::Opcode::kBinary;
      for (size_t j = cursor; j < out.size(); j++) {
        if (out[j].binary == binary && out[j].payload == payload) {
          for (size_t k = cursor; k < j; k++) skipped_must |= out[k].must;
          cursor = j + 1;
          return nullptr;
        }
      }
      return "a data frame the server never queued, or out of order";
    }
    case ws::Opcode::kPing:
    case ws::Opcode::kPong:
      return len > ws::kMaxControlPayload ? "a control frame past 125 bytes" : nullptr;
    case ws::Opcode::kClose:
      if (len == 1 || len > ws::kMaxControlPayload) return "a Close frame of a bad size";
      close_code = len ? static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                               static_cast<uint8_t>(payload[1]))
                       : ws::kCloseNoStatus;
      got_close = true;
      state = State::kEnd;
      return nullptr;
    default:
      return "a server frame with a reserved opcode";
  }
}

}  // namespace sessionfuzz
