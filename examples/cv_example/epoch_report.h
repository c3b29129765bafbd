// The end of an epoch as the user sees it: the recipe's "epoch N: XX.XX" line on stdout (or with
// --json one JSON line there and the recipe's line on stderr), the times and rates on stderr,
// and the epoch's scalars to the tracker.
#ifndef CV_EXAMPLE_EPOCH_REPORT_H_
#define CV_EXAMPLE_EPOCH_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace cv_example {

namespace tracking {
class Tracker;
}  // namespace tracking

struct EpochFigures {
  int64_t epoch = 0;
  double accuracy_pct = 0;
  std::vector<double> losses;  // the epoch's batch losses, in step order
  double train_seconds = 0, wait_seconds = 0, eval_seconds = 0, epoch_seconds = 0;
  double allreduce_seconds = 0;   // spent averaging gradients (0 for one process)
  int64_t images = 0, steps = 0;  // this rank's
  int world_size = 1;
};

struct ReportStyle {
  bool json = false;   // --json
  bool quiet = false;  // --quiet
};

// Prints `figures` in `style` and logs them at `global_step` to `tracker` (null: none). Every
// rank trains on as many images (even_batches), so the job's rate is this rank's times the
// world size. "" or a one-line reason (the tracker could not write).
std::string report_epoch(const EpochFigures& figures, ReportStyle style, tracking::Tracker* tracker,
                         int64_t global_step);

}  // namespace cv_example

#endif  // CV_EXAMPLE_EPOCH_REPORT_H_
