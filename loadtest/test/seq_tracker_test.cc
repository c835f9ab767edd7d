#include "check.h"
#include "seq_tracker.h"

using namespace loadgen;

TEST(seq_in_order_stream_has_no_anomalies) {
  SeqTracker t;
  CHECK(t.observe(7) == SeqEvent::First);
  for (uint64_t s = 8; s < 1000; s++) CHECK(t.observe(s) == SeqEvent::InOrder);
  CHECK(t.distinct() == 993 && t.gaps() == 0 && t.duplicates() == 0 && t.reordered() == 0);
}

TEST(seq_gap_counts_every_skipped_number) {
  SeqTracker t;
  t.observe(1);
  CHECK(t.observe(5) == SeqEvent::Gap);
  CHECK(t.gaps() == 3);
  CHECK(t.observe(6) == SeqEvent::InOrder);
}

TEST(seq_late_arrival_into_a_gap_is_reordered_not_duplicate) {
  SeqTracker t;
  t.observe(1);
  t.observe(4);
  CHECK(t.observe(2) == SeqEvent::Reordered);
  CHECK(t.observe(3) == SeqEvent::Reordered);
  CHECK(t.gaps() == 0 && t.reordered() == 2 && t.duplicates() == 0 && t.distinct() == 4);
}

TEST(seq_repeat_of_a_delivered_number_is_duplicate) {
  SeqTracker t;
  t.observe(1);
  t.observe(2);
  CHECK(t.observe(2) == SeqEvent::Duplicate);
  CHECK(t.observe(1) == SeqEvent::Duplicate);
  t.observe(4);
  CHECK(t.observe(3) == SeqEvent::Reordered);
  CHECK(t.observe(3) == SeqEvent::Duplicate);
  CHECK(t.duplicates() == 3 && t.distinct() == 4);
}
