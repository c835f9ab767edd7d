// Where the generator connects: ws://HOST:PORT/PATH parsed and resolved to IPv4, and how each
// connection picks its source address.
#pragma once
#include <netinet/in.h>

#include <string>

namespace loadgen {

struct Endpoint {
  std::string host_port;  // for the Host header
  std::string target;     // path and query for the request line
  sockaddr_in address{};
  bool loopback = false;
};

bool parse_endpoint(const std::string& url, Endpoint& out, std::string& error);

// A non-blocking socket with connect() under way, bound to 127.0.0.<source> when source > 0
// (each loopback source address has its own ~28k ephemeral ports, so 10,000+ connections to
// one server port never run out). Returns the fd or -errno.
int start_connect(const Endpoint& ep, int source);

}  // namespace loadgen
