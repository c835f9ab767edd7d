// Memory per idle WebSocket: C clients upgrade through WsServer and then stay silent; prints the
// growth of this process's RSS per connection. The clients live in this process too, but a
// client socket costs kernel memory only (not RSS), so the delta is the server side's.
#include <cstdlib>
#include <string>

#include "bench.h"
#include "engine/self_test.h"
#include "session/ws_server.h"

using namespace ringcast;

namespace {

long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kib = 0;
  while (f && std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::atol(line + 6);
  }
  if (f) std::fclose(f);
  return kib;
}

const char kUpgrade[] =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

}  // namespace

int main(int argc, char** argv) {
  int conns = argc > 1 ? std::atoi(argv[1]) : 5000;
  Engine e;
  EngineConfig cfg;
  cfg.max_slots = static_cast<uint32_t>(conns + 16);
  if (e.init(cfg) < 0) return 1;
  WsServer server(e);
  int port = e.listen("127.0.0.1", 0);
  e.poll(0);
  long before = rss_kib();
  std::vector<int> clients;
  size_t upgraded = 0;
  for (int i = 0; i < conns; i++) {
    int fd = connect_loopback(port);
    if (fd < 0) break;
    if (send(fd, kUpgrade, sizeof kUpgrade - 1, 0) < 0) break;
    clients.push_back(fd);
    if (i % 64 == 63 || i == conns - 1) {
      for (int k = 0; k < 3; k++) {
        server.poll(k ? 1 : 0);
        for (const WsEvent& ev : server.events()) {
          if (ev.type == WsEventType::kRequest) upgraded += server.accept_upgrade(ev.conn) == 0;
        }
        server.flush();
      }
    }
  }
  for (int k = 0; k < 200 && upgraded < clients.size(); k++) {
    server.poll(5);
    for (const WsEvent& ev : server.events()) {
      if (ev.type == WsEventType::kRequest) upgraded += server.accept_upgrade(ev.conn) == 0;
    }
    server.flush();
  }
  for (int k = 0; k < 5; k++) {
    server.poll(5);
    server.flush();
  }
  long after = rss_kib();
  std::printf("%zu idle WebSockets: RSS +%ld KiB, %.0f bytes per connection\n", upgraded, after - before,
              (after - before) * 1024.0 / double(upgraded ? upgraded : 1));
  for (int fd : clients) close(fd);
  return 0;
}
