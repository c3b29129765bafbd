#include "checkpoint.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/cuda.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <vector>

#include "common/file_io.h"

namespace cv_example {

std::string parse_checkpoint_schedule(const std::string& text, CheckpointSchedule* schedule) {
  if (text.empty() || text == "epoch") {
    *schedule = {text.empty() ? CheckpointSchedule::When::kNever : CheckpointSchedule::When::kEpoch,
                 0};
    return {};
  }
  int64_t steps = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), steps);
  if (error != std::errc() || end != text.data() + text.size() || steps < 1) {
    return "--checkpointing_steps must be epoch or a positive step count";
  }
  *schedule = {CheckpointSchedule::When::kSteps, steps};
  return {};
}

std::string checkpoint_schedule_name(const CheckpointSchedule& schedule) {
  switch (schedule.when) {
    case CheckpointSchedule::When::kEpoch:
      return "epoch";
    case CheckpointSchedule::When::kSteps:
      return std::to_string(schedule.steps);
    case CheckpointSchedule::When::kNever:
      break;
  }
  return "-";
}
namespace {

namespace fs = std::filesystem;

const std::regex& checkpoint_name() {
  static const std::regex name(R"(checkpoint-(\d+)\.pt)");
  return name;
}

// Generators whose state a checkpoint carries, by archive key.
std::vector<std::pair<std::string, at::Generator>> generators() {
  std::vector<std::pair<std::string, at::Generator>> all = {
      {"rng_cpu", at::globalContext().defaultGenerator(at::kCPU)}};
  if (torch::cuda::is_available()) {
    all.emplace_back("rng_cuda", at::globalContext().defaultGenerator(at::Device(at::kCUDA, 0)));
  }
  return all;
}

// Checkpoints of `dir` by step, oldest first.
std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, checkpoint_name())) {
      found.emplace_back(std::stoll(match[1].str()), entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::string save_checkpoint(const std::string& path, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer, const Progress& progress) {
  try {
    torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
    model.save(model_archive);
    optimizer.save(optimizer_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("epoch", progress.epoch);
    archive.write("step_in_epoch", progress.step_in_epoch);
    archive.write("global_step", progress.global_step);
    archive.write("epoch_losses", torch::tensor(progress.epoch_losses, torch::kFloat64));
    archive.write("fingerprint", progress.fingerprint);
    for (auto& [key, generator] : generators()) {
      std::lock_guard<std::mutex> lock(generator.mutex());
      archive.write(key, generator.get_state());
    }
    std::ostringstream bytes;
    archive.save_to(bytes);
    return common::WriteFileAtomically(path, bytes.str());
  } catch (const c10::Error& e) {
    return path + ": cannot serialise the checkpoint: " + e.what_without_backtrace();
  }
}

std::string encode_run_settings(const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string out = "settings 1\n";  // a format tag: earlier checkpoints hold a sentence
  for (const auto& [name, value] : settings) out += name + "=" + value + "\n";
  return out;
}

namespace {

std::map<std::string, std::string> decode_run_settings(const std::string& text) {
  std::map<std::string, std::string> settings;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // the format tag
  while (std::getline(in, line)) {
    const size_t equals = line.find('=');
    if (equals != std::string::npos) settings[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return settings;
}

// What a difference in `name` means for the run, where it is not obvious.
std::string consequence(const std::string& name) {
  if (name == "--epochs" || name == "steps per epoch" || name == "--batch_size" ||
      name == "training images") {
    return " (the one-cycle schedule's length is fixed at the start: it cannot be stretched)";
  }
  if (name == "ranks") return " (the batches each rank saw would change)";
  return "";
}

}  // namespace

std::string run_settings_difference(const std::string& saved, const std::string& now) {
  if (saved == now) return {};
  if (saved.rfind("settings 1\n", 0) != 0) {
    return "it was made by an older version of cv_example, which recorded its settings as \"" +
           saved + "\"";
  }
  const std::map<std::string, std::string> before = decode_run_settings(saved);
  const std::map<std::string, std::string> after = decode_run_settings(now);
  std::string out;
  for (const auto& [name, value] : after) {
    const auto it = before.find(name);
    const std::string old = it == before.end() ? "not recorded" : it->second;
    if (old == value) continue;
    out += (out.empty() ? "" : "; ") + name + ": checkpoint " + old + ", now " + value +
           consequence(name);
  }
  return out.empty() ? "its settings are recorded differently" : out;
}

std::string load_checkpoint(const std::string& path, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer, Progress* progress) {
  try {
    torch::serialize::InputArchive archive, model_archive, optimizer_archive;
    archive.load_from(path);
    c10::IValue value;
    archive.read("fingerprint", value);
    if (std::string difference =
            run_settings_difference(value.toStringRef(), progress->fingerprint);
        !difference.empty()) {
      return path + ": cannot resume this run: " + difference;
    }
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    model.load(model_archive);
    optimizer.load(optimizer_archive);
    archive.read("epoch", value);
    progress->epoch = value.toInt();
    archive.read("step_in_epoch", value);
    progress->step_in_epoch = value.toInt();
    archive.read("global_step", value);
    progress->global_step = value.toInt();
    torch::Tensor losses;
    archive.read("epoch_losses", losses);
    progress->epoch_losses.assign(losses.data_ptr<double>(),
                                  losses.data_ptr<double>() + losses.numel());
    for (auto& [key, generator] : generators()) {
      torch::Tensor state;
      if (!archive.try_read(key, state)) continue;  // saved without CUDA: nothing to restore
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_state(state);
    }
    return {};
  } catch (const c10::Error& e) {
    return path + ": not a usable checkpoint: " + e.what_without_backtrace();
  }
}

std::string checkpoint_path(const std::string& dir, int64_t global_step) {
  return (fs::path(dir) / ("checkpoint-" + std::to_string(global_step) + ".pt")).string();
}

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  auto found = list_checkpoints(dir);
  if (found.empty()) return std::nullopt;
  return found.back().second.string();
}

std::string prune_checkpoints(const std::string& dir, int keep) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".checkpoint-", 0) == 0 && name.find(".pt.tmp.") != std::string::npos) {
      fs::remove(entry.path(), ec);
    }
  }
  if (keep <= 0) return {};
  auto found = list_checkpoints(dir);
  for (size_t i = 0; i + keep < found.size(); ++i) {
    if (!fs::remove(found[i].second, ec) && ec) {
      return found[i].second.string() + ": cannot delete: " + ec.message();
    }
  }
  return {};
}

}  // namespace cv_example
