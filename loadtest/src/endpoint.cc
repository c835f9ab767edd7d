#include "endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>

namespace loadgen {

bool parse_endpoint(const std::string& url, Endpoint& out, std::string& error) {
  if (url.compare(0, 5, "ws://") != 0) {
    error = "url must start with ws:// (wss is not supported)";
    return false;
  }
  std::string rest = url.substr(5);
  size_t slash = rest.find('/');
  out.host_port = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host = out.host_port, port = "80";
  size_t colon = host.rfind(':');
  if (colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    error = "cannot resolve " + out.host_port + ": " + gai_strerror(rc);
    return false;
  }
  out.address = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  freeaddrinfo(res);
  out.loopback = (ntohl(out.address.sin_addr.s_addr) >> 24) == 127;
  return true;
}

int start_connect(const Endpoint& ep, int source) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  // Publishes and deliveries are small frames whose latency we measure: no Nagle delay.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source > 0) {
    // Pick the port at connect() time, per 4-tuple, instead of reserving one per address.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | unsigned(source));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&ep.address), sizeof ep.address) < 0 &&
      errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

}  // namespace loadgen
