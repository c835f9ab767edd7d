// The session fuzzer's clients: what each one writes (valid and invalid HTTP requests, then
// WebSocket frames, valid and not, with bytes after the end) and what of it the server must
// surface. Every choice comes from one seeded stream.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sessionfuzz {

// xoshiro256** seeded by splitmix64: one stream drives every choice of a run.
struct Rng {
  uint64_t s[4];
  explicit Rng(uint64_t seed) {
    for (uint64_t& v : s) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      v = z ^ (z >> 31);
    }
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
  }
  uint32_t below(uint32_t n) { return n ? static_cast<uint32_t>(next() % n) : 0; }
  uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool pct(uint32_t p) { return below(100) < p; }
  // Mostly small, sometimes medium, rarely up to `big`.
  uint32_t size(uint32_t big) {
    uint32_t k = below(100);
    if (k < 60) return below(std::min<uint32_t>(big, 200) + 1);
    if (k < 92) return below(std::min<uint32_t>(big, 8192) + 1);
    return below(big + 1);
  }
};

struct Request {
  std::string target;
  std::string body;  // decoded
  bool upgrade;
};

struct Message {
  std::string payload;
  bool binary;
};

// What one client writes and what the server must surface of it.
struct Plan {
  std::string wire;
  std::vector<Request> requests;  // valid requests, in order, until one ends the parsing
  std::vector<Message> messages;  // valid messages after the upgrade, until a Close/error
};

constexpr uint32_t kMaxBody = 64 * 1024;  // WsConfig of every epoch
constexpr uint32_t kMaxMessage = 64 * 1024;
constexpr size_t kMaxHead = 4096;

struct Limits {
  uint32_t body = kMaxBody;
  uint32_t message = kMaxMessage;
};

std::string random_bytes(Rng& r, size_t n);
// Valid UTF-8 of n to n + 3 bytes, with 2-, 3- and 4-byte characters.
std::string random_text(Rng& r, size_t n);
// The plan of client number `client`: the requests name it in their targets ("/r?c=7&n=0").
Plan make_plan(Rng& r, int client, const Limits& lim);

}  // namespace sessionfuzz
