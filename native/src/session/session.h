// Protocol state of one connection above the engine: HTTP/1.1 until an upgrade is accepted,
// then RFC 6455 frames. Allocated on open, freed on close; while idle in WebSocket phase it is
// the frame parser's state plus two empty vectors.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "http/chunked.h"
#include "http/head.h"
#include "ws/frame_parser.h"

namespace ringcast {

enum class SessionPhase : uint8_t {
  kHttp,           // reading a request head (and body)
  kAwaitUpgrade,   // a valid upgrade was surfaced; the layer above accepts or rejects
  kAwaitResponse,  // a plain request was surfaced; the layer above responds
  kWebSocket,      // frames
  kClosing,        // a close was sent or the connection is going; input is ignored
};

struct Session {
  Session(uint32_t conn_id, const http::HttpLimits& http_limits, const ws::FrameLimits& frame_limits)
      : id(conn_id), http(new http::HttpHeadParser(http_limits)), frames(frame_limits) {}

  uint32_t id;  // the engine's ConnId
  SessionPhase phase = SessionPhase::kHttp;
  uint16_t close_code = 0;  // sent or received close status, for the kClosed event
  bool input_queued = false;
  bool heard = true;                              // bytes arrived since the last run_timers ping
  bool continue_sent = false;                     // "100 Continue" answered this request's Expect
  bool peer_eof = false;                          // the peer's FIN came: answer what was sent, then close
  uint64_t phase_since_ms = 0;                    // monotonic ms when the current HTTP request began
  std::unique_ptr<http::HttpHeadParser> http;     // dropped after the upgrade
  std::unique_ptr<http::ChunkedDecoder> chunked;  // while a chunked request body arrives
  std::vector<uint8_t> inbuf;  // HTTP bytes so far; bytes that arrive while the layer decides
  ws::FrameParser frames;
  // A message assembled across frames or receives; moved into the batch when complete, so an
  // idle connection holds no capacity from its largest message.
  std::vector<uint8_t> message;
};

}  // namespace ringcast
