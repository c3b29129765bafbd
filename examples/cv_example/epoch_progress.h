// The line that shows an epoch's progress on a terminal: steps done, images per second and the
// time left, redrawn in place at most four times a second and cleared at the epoch's end. Off a
// terminal (a log file, CI) it draws nothing: the per-epoch lines say enough there.
#ifndef CV_EXAMPLE_EPOCH_PROGRESS_H_
#define CV_EXAMPLE_EPOCH_PROGRESS_H_

#include <chrono>
#include <cstdint>

namespace cv_example {

class EpochProgress {
 public:
  // `enabled`: this process reports (rank 0) and stderr is a terminal.
  EpochProgress(bool enabled, int64_t epoch, int64_t steps_per_epoch, int64_t first_step);
  ~EpochProgress();  // clears the line
  EpochProgress(const EpochProgress&) = delete;
  EpochProgress& operator=(const EpochProgress&) = delete;

  // After each step: the steps of the epoch done so far and the images trained on this run.
  void step(int64_t step_in_epoch, int64_t images);
  // Clears the line (before the epoch's own lines are printed).
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, drawn_ = false;
  int64_t epoch_, steps_per_epoch_, first_step_;
  Clock::time_point start_, last_draw_;
};

}  // namespace cv_example

#endif  // CV_EXAMPLE_EPOCH_PROGRESS_H_
