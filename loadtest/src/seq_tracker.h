// Per-stream (one subscriber, one topic) sequence checking. The server numbers each topic's
// messages +1 (protocol v1), so on one connection a seq may only ever be last + 1. Anything
// else is classified as it arrives; the final loss count is taken after the drain by comparing
// distinct deliveries with what the publishers sent, which also catches a lost tail.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

enum class SeqEvent { First, InOrder, Gap, Duplicate, Reordered };

class SeqTracker {
 public:
  SeqEvent observe(uint64_t seq);
  uint64_t distinct() const { return distinct_; }
  uint64_t gaps() const { return gap_total_; }  // seqs skipped so far and not yet filled
  uint64_t duplicates() const { return duplicates_; }
  uint64_t reordered() const { return reordered_; }
  uint64_t last() const { return last_; }

 private:
  bool remove_missing(uint64_t seq);

  // Seqs skipped over, so a late arrival can be told from a duplicate. Bounded: past the cap
  // a late arrival of an untracked seq counts as a duplicate (only after a massive loss).
  static constexpr size_t kMaxMissing = 4096;
  std::vector<uint64_t> missing_;
  uint64_t last_ = 0;
  bool started_ = false;
  uint64_t distinct_ = 0;
  uint64_t gap_total_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t reordered_ = 0;
};

}  // namespace loadgen
