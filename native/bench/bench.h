// Shared by the micro-benchmarks: TCP loopback pairs and a clock. Figures are printed, never
// asserted; run them with `nice` on a shared machine and repeat before believing a difference.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace bench {

inline double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct Pair {
  int server;  // the side the engine would own
  int client;  // the peer we drain
};

// n connected TCP pairs over 127.0.0.1.
inline std::vector<Pair> make_pairs(int n) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(lfd, 4096);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<Pair> pairs;
  for (int i = 0; i < n; i++) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) break;
    int s = accept(lfd, nullptr, nullptr);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pairs.push_back({s, c});
  }
  close(lfd);
  return pairs;
}

inline size_t drain(const std::vector<Pair>& pairs, size_t expect_each) {
  static char buf[1 << 16];
  size_t total = 0;
  for (const Pair& p : pairs) {
    size_t got = 0;
    while (got < expect_each) {
      ssize_t r = recv(p.client, buf, sizeof buf, 0);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    total += got;
  }
  return total;
}

inline void close_pairs(const std::vector<Pair>& pairs) {
  for (const Pair& p : pairs) {
    close(p.server);
    close(p.client);
  }
}

}  // namespace bench
