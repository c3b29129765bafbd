// loader_bench [--data_dir DIR] [--threads N] [benchmark flags]
// Images per second for decode_only (read + decode, no transform), train_pipeline (DataLoader,
// RandomResizedCrop 224), train_pipeline_reduced (the same with reduced_decode),
// train_pipeline_whole (the same decoding whole images, partial_decode off) and eval_pipeline
// (Resize 224), each for 1 and 2 threads plus --threads N if given. One iteration is one pass over
// the directory's .jpg files. Without --data_dir, 24 synthetic 500x375 JPEGs are made in a
// temporary directory.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "loader/build_info.h"
#include "loader/data_loader.h"
#include "loader/dataset.h"
#include "loader/decode.h"
#include "loader/encode.h"

namespace {

std::vector<loader::Sample>& samples() {
  static std::vector<loader::Sample> all;
  return all;
}

// Smooth colour fields with noise, roughly the size and JPEG weight of a Pets photo. Returns an
// empty string or why an image could not be written.
std::string make_images(const std::string& dir, int count) {
  std::mt19937 rng(1);
  for (int i = 0; i < count; ++i) {
    int width = 400 + static_cast<int>(rng() % 200), height = 300 + static_cast<int>(rng() % 150);
    cv::Mat image(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>((x + i * 13) % 256),
                                              static_cast<uint8_t>((y * 2 + x / 3) % 256),
                                              static_cast<uint8_t>(128 + rng() % 64));
      }
    }
    std::vector<uint8_t> bytes;
    const std::string path = dir + "/synthetic_" + std::to_string(i) + ".jpg";
    if (std::string error = loader::encode_jpeg(image, 90, &bytes); !error.empty()) {
      return path + ": " + error;
    }
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) return path + ": cannot write";
  }
  return {};
}

void decode_only(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::atomic<size_t> next{0}, failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        std::vector<uint8_t> bytes;
        for (size_t i; (i = next++) < samples().size();) {
          if (!loader::read_file(samples()[i].path, &bytes).empty() ||
              !loader::decode_image(bytes).ok()) {
            ++failed;
          }
        }
      });
    }
    for (std::thread& thread : pool) thread.join();
    if (failed > 0) state.SkipWithError("some files could not be decoded");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(samples().size()));
}

void pipeline(benchmark::State& state, loader::Mode mode, bool reduced, bool partial = true) {
  loader::LoaderOptions options;
  options.threads = static_cast<int>(state.range(0));
  options.mode = mode;
  options.shuffle = mode == loader::Mode::kTrain;
  options.reduced_decode = reduced;
  options.partial_decode = partial;
  loader::DataLoader data(samples(), options);
  int64_t epoch = 0, images = 0;
  for (auto _ : state) {
    data.start_epoch(epoch++);
    while (std::optional<loader::Batch> batch = data.next()) images += batch->images.size(0);
  }
  state.SetItemsProcessed(images);
  state.counters["wait_s"] = data.stats().wait_seconds;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("build", loader::BuildInfoLine());
  std::string data_dir;
  std::vector<int64_t> thread_counts = {1, 2};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--data_dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg.starts_with("--data_dir=")) {
      data_dir = arg.substr(11);
    } else if (arg == "--threads" && i + 1 < argc) {
      thread_counts.push_back(std::atoll(argv[++i]));
    } else {
      std::cerr << "usage: loader_bench [--data_dir DIR] [--threads N] [benchmark flags]\n";
      return 2;
    }
  }
  std::filesystem::path made;
  if (data_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loader_bench_XXXXXX").string();
    made = data_dir = ::mkdtemp(tmpl.data());
    if (std::string error = make_images(data_dir, 24); !error.empty()) {
      std::cerr << "loader_bench: " << error << "\n";
      return 1;
    }
  }
  samples() = loader::label_images(data_dir, loader::pets_label).samples;
  if (samples().empty()) {
    std::cerr << "loader_bench: no .jpg files in " << data_dir << "\n";
    return 1;
  }
  auto add = [&](const char* name, auto fn) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->ArgName("threads")->UseRealTime();
    b->Unit(benchmark::kMillisecond);
    for (int64_t threads : thread_counts) b->Arg(threads);
  };
  add("decode_only", decode_only);
  add("train_pipeline", [](benchmark::State& s) { pipeline(s, loader::Mode::kTrain, false); });
  add("train_pipeline_reduced",
      [](benchmark::State& s) { pipeline(s, loader::Mode::kTrain, true); });
  add("train_pipeline_whole",
      [](benchmark::State& s) { pipeline(s, loader::Mode::kTrain, false, false); });
  add("eval_pipeline", [](benchmark::State& s) { pipeline(s, loader::Mode::kEval, false); });
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!made.empty()) std::filesystem::remove_all(made);
  return 0;
}
