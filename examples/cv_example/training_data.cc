#include "training_data.h"

#include <iostream>

namespace cv_example {

std::string open_training_data(const TrainConfig& config, loader::DataSource* source) {
  loader::DataSourceOptions options;
  options.max_memory = config.max_memory_mib << 20;
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
  for (const std::string& note : source->notes) std::cerr << "cv_example: " << note << "\n";
  return "";
}

}  // namespace cv_example
