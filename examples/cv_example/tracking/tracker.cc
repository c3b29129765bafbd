#include "tracking/tracker.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tracking/event_file.h"

namespace cv_example::tracking {

bool available() { return true; }

struct Tracker::Files {
  std::unique_ptr<EventFile> events;
  std::ofstream metrics;
};

Tracker::~Tracker() = default;

std::unique_ptr<Tracker> Tracker::open(const std::string& project_dir, std::string* error) {
  std::unique_ptr<Tracker> tracker(new Tracker());
  tracker->dir_ = (std::filesystem::path(project_dir) / "cv_example").string();
  std::error_code ec;
  std::filesystem::create_directories(tracker->dir_, ec);
  if (ec) {
    *error = tracker->dir_ + ": " + ec.message();
    return nullptr;
  }
  tracker->files_ = std::make_unique<Files>();
  tracker->files_->events = EventFile::create(tracker->dir_, error);
  if (!tracker->files_->events) return nullptr;
  const std::string metrics = tracker->dir_ + "/metrics.jsonl";
  tracker->files_->metrics.open(metrics, std::ios::app);  // a resumed run goes on in the same file
  if (!tracker->files_->metrics) {
    *error = metrics + ": cannot open for writing";
    return nullptr;
  }
  return tracker;
}

std::string Tracker::log(int64_t step, const std::map<std::string, double>& scalars,
                         int64_t epoch) {
  const double wall_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json line = {{"step", step}, {"wall_time", wall_time}};
  if (epoch >= 0) line["epoch"] = epoch;
  for (const auto& [tag, value] : scalars) line[tag] = value;
  files_->metrics << line.dump() << "\n";
  if (!files_->metrics) return dir_ + "/metrics.jsonl: cannot write";
  return files_->events->write_scalars(step, wall_time, scalars);
}

std::string Tracker::flush() {
  files_->metrics.flush();
  if (!files_->metrics) return dir_ + "/metrics.jsonl: cannot write";
  return files_->events->flush();
}

}  // namespace cv_example::tracking
