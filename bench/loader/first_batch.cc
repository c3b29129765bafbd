// first_batch --data DIR|ARCHIVE [--epochs N] [--threads N] [--batch_size N] [--image_size N]
//             [--preload auto|on|off] [--max_memory MiB] [--read_only 1]
// One training job's data side, timed as the trainer meets it: open the dataset (a directory, or
// an archive read in place: its member index loaded or built), then the training pipeline
// (RandomResizedCrop, batches of 64 by default) over every image for N epochs. Prints one JSON
// line: seconds from the start of main to the open dataset and to the first batch, and each
// epoch's images/s. bench/archive_compare drives it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>

#include "loader/build_info.h"
#include "loader/data_loader.h"
#include "loader/data_source.h"
#include "loader/decode.h"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Args {
  std::string data;
  int epochs = 1, threads = 0, batch_size = 64, image_size = 224;
  std::string preload = "auto";
  uint64_t max_memory_mib = 0;
  bool read_only = false;
};

bool parse(int argc, char** argv, Args* args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--data")
      args->data = value;
    else if (flag == "--epochs")
      args->epochs = std::stoi(value);
    else if (flag == "--threads")
      args->threads = std::stoi(value);
    else if (flag == "--batch_size")
      args->batch_size = std::stoi(value);
    else if (flag == "--image_size")
      args->image_size = std::stoi(value);
    else if (flag == "--preload")
      args->preload = value;
    else if (flag == "--max_memory")
      args->max_memory_mib = std::stoull(value);
    else if (flag == "--read_only")
      args->read_only = value == "1";
    else
      return false;
  }
  return !args->data.empty() && argc % 2 == 1;
}

// Reads every sample's bytes once, in a shuffled order, on `threads` threads; images/s.
double read_all(const loader::DataSource& source, int threads) {
  std::vector<size_t> order(source.set.samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
  std::atomic<size_t> next{0}, failed{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::vector<uint8_t> bytes;
      for (size_t i; (i = next++) < order.size();) {
        const loader::Sample& sample = source.set.samples[order[i]];
        std::string error = source.store ? source.store->read(sample.key, &bytes)
                                         : loader::read_file(sample.path, &bytes);
        if (!error.empty()) ++failed;
      }
    });
  }
  for (std::thread& thread : pool) thread.join();
  return failed > 0 ? -1 : order.size() / since(start);
}

}  // namespace

int main(int argc, char** argv) {
  const auto start = Clock::now();
  Args args;
  if (!parse(argc, argv, &args)) {
    std::cerr << "usage: first_batch --data DIR|ARCHIVE [--epochs N] [--threads N] "
                 "[--batch_size N] [--image_size N] [--preload auto|on|off] [--max_memory MiB] "
                 "[--read_only 1]\n";
    return 2;
  }
  loader::DataSourceOptions source_options;
  source_options.max_memory = args.max_memory_mib << 20;
  source_options.preload = args.preload == "on"    ? loader::Preload::kOn
                           : args.preload == "off" ? loader::Preload::kOff
                                                   : loader::Preload::kAuto;
  loader::DataSource source;
  if (std::string error =
          loader::open_data_source(args.data, loader::pets_label, source_options, &source);
      !error.empty()) {
    std::cerr << "first_batch: " << error << "\n";
    return 1;
  }
  const double open_seconds = since(start);
  loader::LoaderOptions options;
  options.image_size = args.image_size;
  options.batch_size = args.batch_size;
  options.threads =
      args.threads > 0 ? args.threads : static_cast<int>(std::thread::hardware_concurrency());
  options.store = source.store;
  nlohmann::json report = {{"data", args.data},
                           {"images", source.set.samples.size()},
                           {"open_seconds", open_seconds},
                           {"build", loader::BuildInfoLine()}};
  if (args.read_only) {
    report["read_images_per_second"] = read_all(source, options.threads);
    std::cout << report.dump() << "\n";
    return 0;
  }
  loader::DataLoader data(source.set.samples, options);
  for (int epoch = 0; epoch < args.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    data.start_epoch(epoch);
    size_t images = 0;
    while (std::optional<loader::Batch> batch = data.next()) {
      if (images == 0 && epoch == 0) report["first_batch_seconds"] = since(start);
      images += batch->sample_indices.size();
    }
    if (!data.error().empty()) {
      std::cerr << "first_batch: " << data.error() << "\n";
      return 1;
    }
    report["epoch_images_per_second"].push_back(images / since(epoch_start));
  }
  report["skipped"] = data.stats().skipped;
  std::cout << report.dump() << "\n";
  return 0;
}
