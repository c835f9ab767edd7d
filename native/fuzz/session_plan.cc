#include "session_plan.h"

#include <cstdio>

#include "ws/rfc6455.h"

namespace sessionfuzz {

using namespace ringcast;

std::string random_bytes(Rng& r, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(r.next());
  return s;
}

std::string random_text(Rng& r, size_t n) {
  static const char* const kPieces[] = {
      "a", "b", "z", " ", "{", "\"", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "0", "\n"};
  std::string s;
  while (s.size() < n) s += kPieces[r.below(sizeof kPieces / sizeof kPieces[0])];
  return s;
}

namespace {

// A client frame with any first byte, masked or not, announcing `announced` bytes (default:
// the payload's length).
void put_frame(std::string& out, Rng& r, uint8_t b0, const std::string& payload, bool masked = true,
               uint64_t announced = UINT64_MAX) {
  uint64_t len = announced == UINT64_MAX ? payload.size() : announced;
  out += static_cast<char>(b0);
  uint8_t mask = masked ? ws::kMaskBit : 0;
  if (len <= ws::kMaxLength7) {
    out += static_cast<char>(mask | len);
  } else if (len <= ws::kMaxLength16) {
    out += static_cast<char>(mask | ws::kLength16Marker);
    out += static_cast<char>(len >> 8);
    out += static_cast<char>(len);
  } else {
    out += static_cast<char>(mask | ws::kLength64Marker);
    for (int i = 7; i >= 0; i--) out += static_cast<char>(len >> (8 * i));
  }
  if (!masked) {
    out += payload;
    return;
  }
  uint8_t key[4];
  for (uint8_t& k : key) k = static_cast<uint8_t>(r.next());
  out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); i++) out += static_cast<char>(payload[i] ^ key[i % 4]);
}

uint8_t b0(ws::Opcode op, bool fin) { return (fin ? ws::kFinBit : 0) | static_cast<uint8_t>(op); }

std::string close_payload(uint16_t code, const std::string& reason) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code);
  return p + reason;
}

std::string target(int client, size_t n, bool upgrade) {
  return (upgrade ? "/ws?c=" : "/r?c=") + std::to_string(client) + "&n=" + std::to_string(n);
}

void put_chunked(std::string& out, Rng& r, const std::string& body) {
  size_t at = 0;
  while (at < body.size()) {
    size_t n = std::min(body.size() - at, size_t(r.range(1, 3000)));
    char hex[32];
    std::snprintf(hex, sizeof hex, r.pct(50) ? "%zx" : "%zX", n);
    out += hex;
    if (r.pct(20)) out += ";ext=1";
    out += "\r\n" + body.substr(at, n) + "\r\n";
    at += n;
  }
  out += "0\r\n";
  if (r.pct(20)) out += "X-Trailer: 1\r\n";
  out += "\r\n";
}

// One valid request appended to the plan.
void put_request(Plan& p, Rng& r, int client, bool upgrade, const Limits& lim) {
  Request q;
  q.upgrade = upgrade;
  q.target = target(client, p.requests.size(), upgrade);
  std::string head;
  if (upgrade) {
    head = "GET " + q.target +
           " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (r.pct(20)) head += "Sec-WebSocket-Protocol: chat\r\n";
    p.wire += head + "\r\n";
    p.requests.push_back(q);
    return;
  }
  const uint32_t kind = r.below(3);
  if (kind == 0) {
    head = "GET " + q.target + " HTTP/1.1\r\nHost: x\r\n";
    if (r.pct(20)) head += "Accept: */*\r\nX-Pad: " + std::string(r.below(400), 'p') + "\r\n";
    p.wire += head + "\r\n";
  } else {
    q.body = r.pct(50) ? random_bytes(r, r.size(lim.body)) : random_text(r, r.size(lim.body - 4));
    head = "POST " + q.target + " HTTP/1.1\r\nHost: x\r\n";
    if (r.pct(15)) head += "Expect: 100-continue\r\n";
    if (kind == 1) {
      p.wire += head + "Content-Length: " + std::to_string(q.body.size()) + "\r\n\r\n" + q.body;
    } else {
      p.wire += head + "Transfer-Encoding: chunked\r\n\r\n";
      put_chunked(p.wire, r, q.body);
    }
  }
  p.requests.push_back(q);
}

// A request the server must refuse by itself (never surfaced): ends the plan's requests.
void put_bad_request(Plan& p, Rng& r, const Limits& lim) {
  static const char kUpgradeTail[] =
      "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  switch (r.below(10)) {
    case 0:
      p.wire += "BAD\r\n\r\n";
      break;
    case 1:
      p.wire += "GET /bad HTTP/2.0\r\nHost: x\r\n\r\n";
      break;
    case 2:
      p.wire += "GET /bad HTTP/1.1\r\nHost x\r\n\r\n";
      break;
    case 3:
      p.wire += "POST /bad HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n";
      break;
    case 4:
      p.wire +=
          "GET /bad HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(kMaxHead + r.below(2000), 'b') + "\r\n\r\n";
      break;
    case 5:
      p.wire +=
          "POST /bad HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(lim.body + 1 + r.below(9)) +
          "\r\n\r\n" + std::string(r.below(3000), 'x');
      break;
    case 6:
      p.wire += "POST /bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n";
      break;
    case 7:
      p.wire += std::string("GET /bad HTTP/1.1\r\n") + kUpgradeTail + "Sec-WebSocket-Version: 12\r\n\r\n";
      break;
    case 8:
      p.wire += std::string("GET /bad HTTP/1.1\r\n") + kUpgradeTail +
                "Sec-WebSocket-Version: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
      break;
    default:
      p.wire += "\x01\x02" + random_bytes(r, r.range(1, 300)) + "\r\n\r\n";
      break;
  }
}

// A frame (or frames) that fails the connection.
void put_bad_frames(Plan& p, Rng& r, const Limits& lim) {
  switch (r.below(13)) {
    case 0:
      put_frame(p.wire, r, ws::kFinBit | 0x40 | 0x1, "rsv");
      break;  // RSV1
    case 1:
      put_frame(p.wire, r, ws::kFinBit | (r.pct(50) ? r.range(3, 7) : r.range(0xB, 0xF)), "op");
      break;
    case 2:
      put_frame(p.wire, r, b0(ws::Opcode::kText, true), "unmasked", false);
      break;
    case 3: {
      static const uint16_t kBad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
      put_frame(p.wire, r, b0(ws::Opcode::kClose, true), close_payload(kBad[r.below(10)], "x"));
      break;
    }
    case 4:
      put_frame(p.wire, r, b0(ws::Opcode::kClose, true), "\x03");
      break;  // 1-byte close
    case 5:
      put_frame(p.wire, r, b0(ws::Opcode::kContinuation, r.pct(50)), "stray");
      break;
    case 6:  // a new data frame inside a fragmented message
      put_frame(p.wire, r, b0(ws::Opcode::kText, false), "frag");
      put_frame(p.wire, r, b0(ws::Opcode::kBinary, true), "new");
      break;
    case 7:
      put_frame(p.wire, r, b0(ws::Opcode::kPing, false), "frag ping");
      break;
    case 8:
      put_frame(p.wire, r, b0(ws::Opcode::kPing, true), std::string(126 + r.below(200), 'p'));
      break;
    case 9:  // announces more than the message limit; some of it follows
      put_frame(p.wire, r, b0(ws::Opcode::kBinary, true), "", true, lim.message + 1 + r.below(1 << 20));
      p.wire += random_bytes(r, r.below(5000));
      break;
    case 10:
      put_frame(p.wire, r, b0(ws::Opcode::kText, true), random_text(r, r.below(50)) + "\xc3\x28");
      break;
    case 11:
      put_frame(p.wire, r, b0(ws::Opcode::kClose, true), close_payload(1000, "\xff\xfe"));
      break;
    default:  // a 64-bit length with the top bit set (RFC 6455 5.2)
      put_frame(p.wire, r, b0(ws::Opcode::kBinary, true), "", true, 0x8000000000000000ull | r.next());
      break;
  }
}

// Frames after the upgrade; *ended once a frame ends the conversation (a Close, an error).
void put_frames(Plan& p, Rng& r, const Limits& lim, bool* ended) {
  const uint32_t k = r.below(100);
  if (k < 45) {  // one whole message
    Message m;
    m.binary = r.pct(40);
    // (random_text passes its length by up to 3 bytes: it never cuts a character)
    m.payload = m.binary ? random_bytes(r, r.size(lim.message)) : random_text(r, r.size(lim.message - 4));
    put_frame(p.wire, r, b0(m.binary ? ws::Opcode::kBinary : ws::Opcode::kText, true), m.payload);
    p.messages.push_back(m);
  } else if (k < 65) {  // fragmented, maybe with pings between the fragments
    Message m;
    m.binary = r.pct(40);
    m.payload = m.binary ? random_bytes(r, r.size(lim.message / 2)) : random_text(r, r.size(lim.message / 2));
    size_t parts = r.range(2, 5), at = 0;
    for (size_t i = 0; i < parts; i++) {
      size_t n =
          i + 1 == parts ? m.payload.size() - at : r.below(static_cast<uint32_t>(m.payload.size() - at + 1));
      ws::Opcode op =
          i == 0 ? (m.binary ? ws::Opcode::kBinary : ws::Opcode::kText) : ws::Opcode::kContinuation;
      put_frame(p.wire, r, b0(op, i + 1 == parts), m.payload.substr(at, n));
      at += n;
      if (i + 1 < parts && r.pct(30))
        put_frame(p.wire, r, b0(ws::Opcode::kPing, true), random_bytes(r, r.below(126)));
    }
    p.messages.push_back(m);
  } else if (k < 75) {
    put_frame(p.wire, r, b0(ws::Opcode::kPing, true), random_bytes(r, r.below(126)));
  } else if (k < 80) {
    put_frame(p.wire, r, b0(ws::Opcode::kPong, true), random_bytes(r, r.below(126)));
  } else if (k < 88) {  // a valid Close
    static const uint16_t kOk[] = {1000, 1001, 1003, 1007, 1008, 1011, 3000, 4999};
    put_frame(p.wire, r, b0(ws::Opcode::kClose, true),
              r.pct(20) ? std::string() : close_payload(kOk[r.below(8)], random_text(r, r.below(60))));
    *ended = true;
  } else {
    put_bad_frames(p, r, lim);
    *ended = true;
  }
}

}  // namespace

Plan make_plan(Rng& r, int client, const Limits& lim) {
  Plan p;
  const uint32_t kind = r.below(100);
  bool ended = false;
  if (kind < 8) {  // garbage, or half a request
    if (r.pct(50)) {
      p.wire = random_bytes(r, r.range(1, 3000));
    } else {
      put_request(p, r, client, r.pct(50), lim);
      p.wire.resize(r.below(static_cast<uint32_t>(p.wire.size())));
      p.requests.clear();
    }
    return p;
  }
  const bool websocket = kind >= 45;
  const uint32_t before = websocket ? (r.pct(70) ? 0 : r.range(1, 2)) : r.range(1, 5);
  for (uint32_t i = 0; i < before && !ended; i++) {
    if (r.pct(8)) {
      put_bad_request(p, r, lim);
      ended = true;
    } else {
      put_request(p, r, client, false, lim);
    }
  }
  if (websocket && !ended) {
    if (r.pct(6)) {
      put_bad_request(p, r, lim);
      ended = true;
    } else {
      put_request(p, r, client, true, lim);
      const uint32_t units = r.below(14);
      for (uint32_t i = 0; i < units && !ended; i++) put_frames(p, r, lim, &ended);
    }
  }
  // Bytes after the end: never surfaced.
  if (ended && r.pct(40)) {
    Plan extra;
    put_request(extra, r, client, false, lim);
    put_frame(extra.wire, r, b0(ws::Opcode::kText, true), "after the end");
    p.wire += extra.wire;
  }
  return p;
}

}  // namespace sessionfuzz
