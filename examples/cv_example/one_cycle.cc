#include "one_cycle.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cv_example {
namespace {

// Cosine from `start` (fraction 0) to `end` (fraction 1).
double cosine(double start, double end, double fraction) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * fraction) + 1.0);
}

}  // namespace

OneCycle::OneCycle(const OneCycleOptions& options)
    : options_(options), warmup_end_(options.pct_start * options.total_steps - 1.0) {}

OneCycle::Position OneCycle::position(int64_t step) const {
  const double s = static_cast<double>(std::clamp<int64_t>(step, 0, options_.total_steps - 1));
  if (s <= warmup_end_) return {0, warmup_end_ > 0 ? s / warmup_end_ : 1.0};
  const double last = static_cast<double>(options_.total_steps - 1);
  return {1, (s - warmup_end_) / (last - warmup_end_)};
}

double OneCycle::lr(int64_t step) const {
  const Position p = position(step);
  return p.phase == 0 ? cosine(initial_lr(), options_.max_lr, p.fraction)
                      : cosine(options_.max_lr, final_lr(), p.fraction);
}

double OneCycle::beta1(int64_t step) const {
  const Position p = position(step);
  return p.phase == 0 ? cosine(options_.max_momentum, options_.base_momentum, p.fraction)
                      : cosine(options_.base_momentum, options_.max_momentum, p.fraction);
}

}  // namespace cv_example
