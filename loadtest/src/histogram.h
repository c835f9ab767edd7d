// Log-linear latency histogram: exact below 128 ns, then 64 linear sub-buckets per power of
// two, so any recorded value is reported within 1/64 (1.6%) of itself, from 1 ns to hours,
// in a fixed 30 KB array (3,776 buckets) with O(1) record. Percentiles are bucket upper bounds, capped at
// max.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

class Histogram {
 public:
  Histogram();
  void record(uint64_t value);
  void merge(const Histogram& other);
  void reset();
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }
  // q in [0, 1]; the smallest bucket bound below which at least q of the values fall.
  uint64_t percentile(double q) const;

  // Exposed for tests: the bucket a value lands in and that bucket's bounds.
  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_low(size_t bucket);
  static uint64_t bucket_high(size_t bucket);
  static size_t bucket_count();

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  // Sum in ns overflows only after ~584 years of total latency.
  uint64_t sum_ = 0;
};

}  // namespace loadgen
