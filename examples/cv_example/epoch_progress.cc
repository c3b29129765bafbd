#include "epoch_progress.h"

#include <cinttypes>
#include <cstdio>

#include "common/human_units.h"

namespace cv_example {

EpochProgress::EpochProgress(bool enabled, int64_t epoch, int64_t steps_per_epoch,
                             int64_t first_step)
    : enabled_(enabled),
      epoch_(epoch),
      steps_per_epoch_(steps_per_epoch),
      first_step_(first_step),
      start_(Clock::now()),
      last_draw_(start_) {}

EpochProgress::~EpochProgress() { finish(); }

void EpochProgress::finish() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

void EpochProgress::step(int64_t step_in_epoch, int64_t images) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(250)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t done = step_in_epoch - first_step_;
  const double per_step = done > 0 ? elapsed / done : 0;
  std::fprintf(stderr,
               "\repoch %" PRId64 ": step %" PRId64 "/%" PRId64 ", %.1f images/s, %s left\033[K",
               epoch_, step_in_epoch, steps_per_epoch_, elapsed > 0 ? images / elapsed : 0.0,
               common::HumanSeconds(per_step * (steps_per_epoch_ - step_in_epoch)).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace cv_example
