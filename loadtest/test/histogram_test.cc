#include "check.h"
#include "histogram.h"

using namespace loadgen;

TEST(histogram_buckets_are_contiguous_and_cover_their_values) {
  for (size_t b = 1; b < Histogram::bucket_count(); b++) {
    CHECK(Histogram::bucket_low(b) == Histogram::bucket_high(b - 1) + 1);
  }
  const uint64_t values[] = {0, 1, 127, 128, 129, 1000, 123456789, 1ull << 40, UINT64_MAX};
  for (uint64_t v : values) {
    size_t b = Histogram::bucket_of(v);
    CHECK(Histogram::bucket_low(b) <= v && v <= Histogram::bucket_high(b));
  }
}

TEST(histogram_bucket_width_stays_within_two_percent) {
  for (size_t b = 128; b < Histogram::bucket_count() - 1; b++) {
    double width = double(Histogram::bucket_high(b) - Histogram::bucket_low(b) + 1);
    CHECK(width / double(Histogram::bucket_low(b)) <= 1.0 / 64 + 1e-12);
  }
}

TEST(histogram_percentiles_of_a_uniform_range) {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; v++) h.record(v * 1000);  // 1 us .. 100 ms in ns
  CHECK(h.count() == 100000);
  CHECK(h.max() == 100000000);
  CHECK(h.min() == 1000);
  auto near = [](uint64_t got, double want) { return got >= want && double(got) <= want * 1.016; };
  CHECK(near(h.percentile(0.5), 50000000));
  CHECK(near(h.percentile(0.9), 90000000));
  CHECK(near(h.percentile(0.99), 99000000));
  CHECK(near(h.percentile(0.999), 99900000));
  CHECK(h.percentile(1.0) == 100000000);
}

TEST(histogram_percentile_never_exceeds_max_and_merges_add_up) {
  Histogram a, b;
  a.record(1000);
  a.record(1001);
  b.record(5000000);
  CHECK(a.percentile(0.99) <= a.max());
  a.merge(b);
  CHECK(a.count() == 3);
  CHECK(a.max() == 5000000);
  CHECK(a.percentile(0.5) >= 1001 && a.percentile(0.5) <= 1016);
  a.reset();
  CHECK(a.count() == 0 && a.percentile(0.5) == 0 && a.max() == 0);
}
