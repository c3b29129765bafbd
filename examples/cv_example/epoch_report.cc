#include "epoch_report.h"

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/human_units.h"
#include "tracking/tracker.h"

namespace cv_example {
namespace {

void print_lines(const EpochFigures& f, ReportStyle style, double mean_loss,
                 double images_per_second, double wait_fraction, double allreduce_ms) {
  // The recipe's line, on stdout alone, so scripts comparing runs can read it as is; with --json
  // stdout holds JSON lines only, and the line goes to stderr.
  if (!(style.json && style.quiet)) {
    std::fprintf(style.json ? stderr : stdout, "epoch %" PRId64 ": %.2f\n", f.epoch,
                 f.accuracy_pct);
  }
  std::fflush(stdout);
  if (!style.quiet) {
    std::fprintf(stderr,
                 "epoch %" PRId64
                 ": %s (train %s, eval %s), train loss %.4f, %.1f images/s, waiting for data "
                 "%.1f%% of step time\n",
                 f.epoch, common::HumanSeconds(f.epoch_seconds).c_str(),
                 common::HumanSeconds(f.train_seconds).c_str(),
                 common::HumanSeconds(f.eval_seconds).c_str(), mean_loss, images_per_second,
                 100 * wait_fraction);
  }
  if (f.world_size > 1 && !style.quiet) {
    std::fprintf(stderr, "epoch %" PRId64 ": %d ranks, gradient allreduce %.2f ms per step\n",
                 f.epoch, f.world_size, allreduce_ms);
  }
}

}  // namespace

std::string report_epoch(const EpochFigures& f, ReportStyle style, tracking::Tracker* tracker,
                         int64_t global_step) {
  double loss_sum = 0;
  for (double loss : f.losses) loss_sum += loss;
  const double mean_loss = f.losses.empty() ? 0.0 : loss_sum / f.losses.size();
  const double images_per_second =
      f.train_seconds > 0 ? double(f.images) * f.world_size / f.train_seconds : 0;
  const double allreduce_ms = f.steps > 0 ? 1000 * f.allreduce_seconds / f.steps : 0;
  const double wait_fraction = f.train_seconds > 0 ? f.wait_seconds / f.train_seconds : 0;
  print_lines(f, style, mean_loss, images_per_second, wait_fraction, allreduce_ms);
  if (style.json) {
    const nlohmann::json line = {{"epoch", f.epoch},
                                 {"accuracy_pct", f.accuracy_pct},
                                 {"train_loss", mean_loss},
                                 {"losses", f.losses},
                                 {"images_per_second", images_per_second},
                                 {"data_wait_fraction", wait_fraction},
                                 {"train_seconds", f.train_seconds},
                                 {"eval_seconds", f.eval_seconds},
                                 {"epoch_seconds", f.epoch_seconds},
                                 {"world_size", f.world_size},
                                 {"allreduce_ms_per_step", allreduce_ms}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
  if (!tracker) return {};
  if (std::string error = tracker->log(global_step,
                                       {{"accuracy_pct", f.accuracy_pct},
                                        {"epoch_train_loss", mean_loss},
                                        {"images_per_second", images_per_second},
                                        {"data_wait_fraction", wait_fraction},
                                        {"epoch_seconds", f.epoch_seconds}},
                                       f.epoch);
      !error.empty()) {
    return error;
  }
  return tracker->flush();
}

}  // namespace cv_example
