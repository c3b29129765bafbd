#include "training_data.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iostream>

namespace cv_example {

namespace {

uint64_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

}  // namespace

std::string open_training_data(const TrainConfig& config, int local_ranks, bool report,
                               loader::DataSource* source) {
  loader::DataSourceOptions options;
  const uint64_t machine_cap =
      config.max_memory_mib > 0 ? config.max_memory_mib << 20 : physical_memory() / 4;
  options.max_memory = std::max<uint64_t>(1, machine_cap / std::max(1, local_ranks));
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
    std::cerr << "cv_example: memory cap " << (machine_cap >> 20) << " MiB shared by "
              << local_ranks << " ranks on this machine: " << (options.max_memory >> 20)
              << " MiB each\n";
  }
  return "";
}

}  // namespace cv_example
