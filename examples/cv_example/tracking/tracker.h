// What accelerate's --with_tracking records, for TensorBoard and for scripts: under
// PROJECT_DIR/cv_example/, a TensorBoard event file and metrics.jsonl (one JSON object per line:
// {"step": N, "train_loss": ..., "lr": ...} per training step, and per epoch {"epoch": E, "step":
// N, "accuracy_pct": ..., "images_per_second": ..., "data_wait_fraction": ...}).
#ifndef CV_EXAMPLE_TRACKING_TRACKER_H_
#define CV_EXAMPLE_TRACKING_TRACKER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cv_example::tracking {

// True when this build writes TensorBoard files (it found libprotobuf and ISA-L).
bool available();

class Tracker {
 public:
  // Opens PROJECT_DIR/cv_example/ (made if missing) for this run; nullptr and `*error` (one line)
  // when it cannot.
  static std::unique_ptr<Tracker> open(const std::string& project_dir, std::string* error);

  // The scalars of one step, or of one epoch (then `epoch` >= 0 is recorded beside them).
  // "" or a one-line reason.
  std::string log(int64_t step, const std::map<std::string, double>& scalars, int64_t epoch = -1);
  // Makes everything logged so far readable by others (TensorBoard, tail -f).
  std::string flush();

  const std::string& dir() const { return dir_; }
  ~Tracker();

 private:
  struct Files;  // the event file and metrics.jsonl (none in a build without tracking)
  Tracker() = default;
  std::string dir_;
  std::unique_ptr<Files> files_;
};

}  // namespace cv_example::tracking

#endif  // CV_EXAMPLE_TRACKING_TRACKER_H_
