// A tiny test harness for the parser tests: named cases, expectations that report the
// failing line, a hex helper for raw protocol bytes and a deterministic random source for
// split points. Each test program prints "N passed, M failed" and exits non-zero on failure.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace wstest {

struct Totals {
  int passed = 0;
  int failed = 0;
  bool current_ok = true;
};

inline Totals& totals() {
  static Totals t;
  return t;
}

inline void report_failure(const char* file, int line, const std::string& what) {
  std::printf("  FAIL %s:%d: %s\n", file, line, what.c_str());
  totals().current_ok = false;
}

template <typename Fn>
void run(const std::string& name, Fn fn) {
  totals().current_ok = true;
  fn();
  if (totals().current_ok) {
    totals().passed++;
  } else {
    totals().failed++;
    std::printf("FAILED: %s\n", name.c_str());
  }
}

inline int finish() {
  std::printf("%d passed, %d failed\n", totals().passed, totals().failed);
  return totals().failed == 0 ? 0 : 1;
}

// Raw bytes from hex; spaces and '|' are ignored so frames can be written field by field.
inline std::vector<uint8_t> hex(std::string_view s) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out;
  int high = -1;
  for (char c : s) {
    const int v = nibble(c);
    if (v < 0) continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(uint8_t(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

inline std::string to_hex(const uint8_t* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

// xorshift64: deterministic split points, so a failure reproduces.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 1) {}
  uint64_t next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  size_t below(size_t n) { return n == 0 ? 0 : size_t(next() % n); }

 private:
  uint64_t s_;
};

// Chunk sizes that cover `total` bytes: whole, one byte at a time, or random.
enum class Split { kWhole, kBytewise, kRandom };
inline std::vector<size_t> chunk_sizes(size_t total, Split how, uint64_t seed = 1) {
  std::vector<size_t> sizes;
  if (how == Split::kWhole) {
    sizes.push_back(total);
  } else if (how == Split::kBytewise) {
    sizes.assign(total, 1);
  } else {
    Rng rng(seed);
    for (size_t left = total; left > 0;) {
      const size_t n = 1 + rng.below(left < 16 ? left : left / 2 + 1);
      sizes.push_back(n);
      left -= n;
    }
  }
  return sizes;
}

inline const char* split_name(Split how) {
  return how == Split::kWhole ? "whole" : how == Split::kBytewise ? "bytewise" : "random";
}

}  // namespace wstest

#define EXPECT(cond)                                                  \
  do {                                                                \
    if (!(cond)) ::wstest::report_failure(__FILE__, __LINE__, #cond); \
  } while (0)

#define EXPECT_EQ(a, b)                                                                                   \
  do {                                                                                                    \
    const auto& va_ = (a);                                                                                \
    const auto& vb_ = (b);                                                                                \
    if (!(va_ == vb_)) {                                                                                  \
      ::wstest::report_failure(                                                                           \
          __FILE__, __LINE__,                                                                             \
          std::string(#a " == " #b " (got ") + ::wstest::show(va_) + " vs " + ::wstest::show(vb_) + ")"); \
    }                                                                                                     \
  } while (0)

namespace wstest {
inline std::string show(const std::string& s) { return "\"" + s + "\""; }
inline std::string show(std::string_view s) { return show(std::string(s)); }
inline std::string show(const char* s) { return show(std::string(s)); }
template <typename T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    std::string out = "[";
    for (const auto& s : v) out += show(s) + " ";
    return out + "]";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else {
    return std::to_string(v);
  }
}
}  // namespace wstest
