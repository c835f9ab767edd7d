#include "seq_tracker.h"

namespace loadgen {

bool SeqTracker::remove_missing(uint64_t seq) {
  for (size_t i = 0; i < missing_.size(); i++) {
    if (missing_[i] == seq) {
      missing_[i] = missing_.back();
      missing_.pop_back();
      return true;
    }
  }
  return false;
}

SeqEvent SeqTracker::observe(uint64_t seq) {
  if (!started_) {
    started_ = true;
    last_ = seq;
    distinct_ = 1;
    return SeqEvent::First;
  }
  if (seq == last_ + 1) {
    last_ = seq;
    distinct_++;
    return SeqEvent::InOrder;
  }
  if (seq > last_) {
    for (uint64_t s = last_ + 1; s < seq && missing_.size() < kMaxMissing; s++) {
      missing_.push_back(s);
    }
    gap_total_ += seq - last_ - 1;
    last_ = seq;
    distinct_++;
    return SeqEvent::Gap;
  }
  if (remove_missing(seq)) {
    gap_total_--;
    reordered_++;
    distinct_++;
    return SeqEvent::Reordered;
  }
  duplicates_++;
  return SeqEvent::Duplicate;
}

}  // namespace loadgen
