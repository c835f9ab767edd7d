// SHA-1 (FIPS 180-4) and base64 (RFC 4648), just enough to check Sec-WebSocket-Accept
// (RFC 6455 section 4.2.2) without pulling in a crypto library.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace loadgen {

void sha1(const void* data, size_t len, uint8_t digest[20]);
std::string base64_encode(const uint8_t* data, size_t len);
// The value a server must echo for a given Sec-WebSocket-Key.
std::string websocket_accept(const std::string& key);

}  // namespace loadgen
