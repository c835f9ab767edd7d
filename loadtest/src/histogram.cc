#include "histogram.h"

#include <cmath>

namespace loadgen {
namespace {

constexpr unsigned kSubBits = 7;                      // 2^7 exact values, then half-octaves
constexpr uint64_t kExact = uint64_t(1) << kSubBits;  // 128
constexpr uint64_t kHalf = kExact / 2;                // 64 sub-buckets per power of two
constexpr unsigned kMaxShift = 64 - kSubBits;         // shift for values with bit 63 set

}  // namespace

Histogram::Histogram() : buckets_(bucket_count(), 0) {}

size_t Histogram::bucket_count() { return kExact + kMaxShift * kHalf; }

size_t Histogram::bucket_of(uint64_t v) {
  if (v < kExact) return size_t(v);
  unsigned msb = 63 - unsigned(__builtin_clzll(v));
  unsigned shift = msb - (kSubBits - 1);  // keeps the top kSubBits bits of v
  uint64_t mantissa = v >> shift;         // in [kHalf, kExact)
  return size_t(kExact + (shift - 1) * kHalf + (mantissa - kHalf));
}

uint64_t Histogram::bucket_low(size_t b) {
  if (b < kExact) return b;
  uint64_t rel = b - kExact;
  unsigned shift = unsigned(rel / kHalf) + 1;
  uint64_t mantissa = rel % kHalf + kHalf;
  return mantissa << shift;
}

uint64_t Histogram::bucket_high(size_t b) {
  if (b < kExact) return b;
  uint64_t rel = b - kExact;
  unsigned shift = unsigned(rel / kHalf) + 1;
  uint64_t mantissa = rel % kHalf + kHalf;
  // The very last bucket's upper bound is UINT64_MAX; (mantissa + 1) << shift would wrap.
  if (mantissa + 1 == kExact && shift == kMaxShift) return UINT64_MAX;
  return ((mantissa + 1) << shift) - 1;
}

void Histogram::record(uint64_t v) {
  buckets_[bucket_of(v)]++;
  count_++;
  sum_ += v;
  if (v > max_) max_ = v;
  if (v < min_) min_ = v;
}

void Histogram::merge(const Histogram& o) {
  for (size_t i = 0; i < buckets_.size(); i++) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  if (o.max_ > max_) max_ = o.max_;
  if (o.count_ && o.min_ < min_) min_ = o.min_;
}

void Histogram::reset() {
  for (auto& b : buckets_) b = 0;
  count_ = 0;
  sum_ = 0;
  max_ = 0;
  min_ = UINT64_MAX;
}

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  if (q <= 0) return min();
  uint64_t rank = uint64_t(std::ceil(q * double(count_)));
  if (rank < 1) rank = 1;
  if (rank > count_) rank = count_;
  uint64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); b++) {
    seen += buckets_[b];
    if (seen >= rank) {
      uint64_t high = bucket_high(b);
      return high < max_ ? high : max_;
    }
  }
  return max_;
}

}  // namespace loadgen
