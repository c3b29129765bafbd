// OneCycle against PyTorch's closed-form OneCycleLR (defaults: 30% warm-up, cosine, div 25,
// final div 1e4, beta1 0.95 -> 0.85 -> 0.95) for the recipe's 3 x 93 steps.
#include "one_cycle.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace cv_example {
namespace {

constexpr int64_t kSteps = 279;
constexpr double kMaxLr = 3e-2;

// PyTorch's formula, written out: phase ends at 0.3 * total - 1 and total - 1.
double annealed(double start, double end, double pct) {
  return end + (start - end) / 2 * (1 + std::cos(std::numbers::pi * pct));
}
double reference_lr(int64_t step) {
  const double warmup_end = 0.3 * kSteps - 1, last = kSteps - 1;
  if (step <= warmup_end) return annealed(kMaxLr / 25, kMaxLr, step / warmup_end);
  return annealed(kMaxLr, kMaxLr / 25 / 1e4, (step - warmup_end) / (last - warmup_end));
}
double reference_beta1(int64_t step) {
  const double warmup_end = 0.3 * kSteps - 1, last = kSteps - 1;
  if (step <= warmup_end) return annealed(0.95, 0.85, step / warmup_end);
  return annealed(0.85, 0.95, (step - warmup_end) / (last - warmup_end));
}

OneCycle recipe() { return OneCycle({.max_lr = kMaxLr, .total_steps = kSteps}); }

TEST(OneCycleTest, StartsAtMaxOver25) {
  EXPECT_DOUBLE_EQ(recipe().lr(0), 1.2e-3);
  EXPECT_DOUBLE_EQ(recipe().beta1(0), 0.95);
}

TEST(OneCycleTest, MatchesClosedFormAtSeveralSteps) {
  const OneCycle schedule = recipe();
  for (int64_t step : {1, 10, 41, 82, 83, 84, 150, 200, 277, 278}) {
    SCOPED_TRACE(step);
    EXPECT_NEAR(schedule.lr(step), reference_lr(step), 1e-12);
    EXPECT_NEAR(schedule.beta1(step), reference_beta1(step), 1e-12);
  }
}

TEST(OneCycleTest, PeaksAfterThirtyPercent) {
  const OneCycle schedule = recipe();
  int64_t peak = 0;
  for (int64_t step = 0; step < kSteps; ++step) {
    if (schedule.lr(step) > schedule.lr(peak)) peak = step;
  }
  EXPECT_EQ(peak, 83);  // the warm-up ends at step 0.3 * 279 - 1 = 82.7
  EXPECT_NEAR(schedule.lr(peak), kMaxLr, 1e-5);
  EXPECT_NEAR(schedule.beta1(peak), 0.85, 1e-4);
}

TEST(OneCycleTest, EndsAtInitialOver1e4) {
  const OneCycle schedule = recipe();
  EXPECT_NEAR(schedule.lr(kSteps - 1), 1.2e-7, 1e-15);
  EXPECT_DOUBLE_EQ(schedule.beta1(kSteps - 1), 0.95);
  EXPECT_DOUBLE_EQ(schedule.final_lr(), 1.2e-7);
}

TEST(OneCycleTest, RisesThenFalls) {
  const OneCycle schedule = recipe();
  for (int64_t step = 1; step < kSteps; ++step) {
    if (step <= 83) {
      EXPECT_GT(schedule.lr(step), schedule.lr(step - 1)) << step;
    } else {
      EXPECT_LT(schedule.lr(step), schedule.lr(step - 1)) << step;
    }
  }
}

}  // namespace
}  // namespace cv_example
