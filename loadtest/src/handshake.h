// The opening handshake from the client side (RFC 6455 section 4.1): build the GET, then
// check the server's answer is a 101 whose Sec-WebSocket-Accept matches our key.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace loadgen {

std::string make_websocket_key(uint64_t seed);
// The offer --deflate on sends: both no_context_takeover, so one inflater serves every connection.
constexpr const char* kDeflateOffer =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

// extensions: a Sec-WebSocket-Extensions offer, or empty for none.
std::string build_upgrade_request(const std::string& host_port, const std::string& target,
                                  const std::string& key, const std::string& extensions = "");

// The response head [data, data + len) accepted permessage-deflate.
bool offers_deflate(const char* data, size_t len);

struct HandshakeResult {
  enum State { Incomplete, Accepted, Rejected } state = Incomplete;
  size_t header_bytes = 0;  // bytes of the response head; what follows is frame data
  std::string error;        // why it was rejected: status line or header at fault
};

HandshakeResult check_upgrade_response(const char* data, size_t len, const std::string& expected_accept);

}  // namespace loadgen
