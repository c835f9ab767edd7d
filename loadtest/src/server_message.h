// Reads the few fields the generator needs out of a protocol v1 server message without a full
// JSON parse: at a million deliveries a second a real parser would measure itself. Servers may
// order keys as they like; the data object is ours ({"t":..,"n":..,"p":"..."}), so "t" and "n"
// can only mean our send timestamp and publish number.
#pragma once
#include <cstddef>
#include <cstdint>

namespace loadgen {

struct ServerMessage {
  enum Kind { Msg, Ack, Err, Other } kind = Other;
  bool has_seq = false, has_id = false, has_stamp = false;
  uint64_t seq = 0;
  uint64_t id = 0;
  uint64_t sent_ns = 0;  // our "t": when the publish was written, generator clock
  uint64_t serial = 0;   // our "n": which publish this is
};

// False when the text is not a message we can read (no "op", or a msg without seq).
bool scan_server_message(const char* text, size_t len, ServerMessage& out);

}  // namespace loadgen
