#include "training_data.h"

#include <algorithm>
#include <iostream>

namespace cv_example {

std::string open_training_data(const TrainConfig& config, int local_ranks, bool report,
                               loader::DataSource* source) {
  loader::DataSourceOptions options;
  options.max_memory = config.max_memory_mib << 20;
  options.max_member_bytes = config.max_member_mb << 20;
  options.sharers = static_cast<unsigned>(std::max(1, local_ranks));
  if (config.preload == "on") {
    options.preload = loader::Preload::kOn;
  } else if (config.preload == "off") {
    options.preload = loader::Preload::kOff;
  } else if (config.preload != "auto") {
    return "--preload must be auto, on or off, not " + config.preload;
  }
  std::string error =
      loader::open_data_source(config.data_dir, loader::pets_label, options, source);
  if (!error.empty()) return error;
  if (!report) return "";
  for (const std::string& note : source->notes) std::cerr << "cv_example: " << note << "\n";
  if (local_ranks > 1 && source->store) {
    std::cerr << "cv_example: memory cap shared by " << local_ranks
              << " ranks on this machine: " << (source->memory_cap >> 20) << " MiB each\n";
  }
  return "";
}

}  // namespace cv_example
