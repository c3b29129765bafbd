// The tracker of a build without libprotobuf or ISA-L (the trainer alone on a GPU machine that
// lacks them): --with_tracking is refused in one line, and --version says "tracking: no".
#include "tracking/tracker.h"

namespace cv_example::tracking {

bool available() { return false; }

struct Tracker::Files {};
Tracker::~Tracker() = default;

std::unique_ptr<Tracker> Tracker::open(const std::string&, std::string* error) {
  *error =
      "--with_tracking: this build has no TensorBoard tracking (it was configured without "
      "libprotobuf-dev, protobuf-compiler or libisal-dev)";
  return nullptr;
}

std::string Tracker::log(int64_t, const std::map<std::string, double>&, int64_t) { return {}; }
std::string Tracker::flush() { return {}; }

}  // namespace cv_example::tracking
