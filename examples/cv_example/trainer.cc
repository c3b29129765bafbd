#include "trainer.h"

#include <ATen/Context.h>
#include <torch/torch.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "checkpoint.h"
#include "common/human_units.h"
#include "common/stop_signals.h"
#include "distributed/data_parallel.h"
#include "epoch_progress.h"
#include "loader/data_loader.h"
#include "loader/dataset.h"
#include "one_cycle.h"
#include "resnet.h"
#include "run_facts.h"
#include "safetensors.h"
#include "torch_compat.h"
#include "tracking/tracker.h"
#include "training_data.h"

namespace cv_example {
namespace {

using Clock = std::chrono::steady_clock;

// A CSV field as RFC 4180 writes it: quoted (quotes doubled) when it holds a comma, a quote or a
// line break, as file and class names from an archive may.
std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int fail(const std::string& message) {
  std::cerr << "cv_example: " << message << "\n";
  return 1;
}

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

// The N of "--checkpointing_steps N", or 0 when it is not a positive number.
int64_t checkpoint_every(const std::string& text) {
  int64_t every = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), every);
  return error == std::errc() && end == text.data() + text.size() && every > 0 ? every : 0;
}

}  // namespace

std::string check_options(const TrainConfig& c) {
  if (c.epochs < 1 || c.batch_size < 1) return "--epochs and --batch_size must be at least 1";
  if (c.image_size < 32) return "--image_size must be at least 32";
  if (!(c.lr > 0)) return "--lr must be positive";
  if (c.mixed_precision != "no" && c.mixed_precision != "bf16" && c.mixed_precision != "fp16") {
    return "--mixed_precision must be no, bf16 or fp16, not " + c.mixed_precision;
  }
  if (!resnet_config(c.model)) {
    std::string known;
    for (const auto& name : resnet_names()) known += " " + name;
    return "unknown --model " + c.model + " (known:" + known + ")";
  }
  if (!c.checkpointing_steps.empty() && c.checkpointing_steps != "epoch" &&
      checkpoint_every(c.checkpointing_steps) < 1) {
    return "--checkpointing_steps must be epoch or a positive step count";
  }
  if ((!c.checkpointing_steps.empty() || c.resume_from_checkpoint == "latest") &&
      c.output_dir.empty()) {
    return "--checkpointing_steps and --resume_from_checkpoint latest need --output_dir";
  }
  if (c.eval_only && !c.resume_from_checkpoint.empty()) {
    return "--eval_only takes --weights (training writes OUTPUT_DIR/model.safetensors), "
           "not a checkpoint";
  }
  return {};
}

namespace {

// check_options, and what this machine must have for them.
std::string validate(const TrainConfig& c, bool cuda) {
  if (std::string error = check_options(c); !error.empty()) return error;
  if (c.mixed_precision == "fp16" && !cuda) {
    return "--mixed_precision fp16 needs a CUDA device; on the CPU use bf16";
  }
  return {};
}

// The images' way onto the device: uint8 NCHW in, normalised float out,
// (x / 255 - mean) / std with ImageNet's statistics folded into one multiply-add.
class Normalizer {
 public:
  Normalizer(torch::Device device, bool channels_last) : channels_last_(channels_last) {
    const auto options = torch::TensorOptions().device(device);
    const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}, options).view({1, 3, 1, 1});
    const torch::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}, options).view({1, 3, 1, 1});
    scale_ = 1.0f / (255.0f * std);
    shift_ = -mean / std;
  }
  torch::Tensor operator()(const torch::Tensor& images) const {
    torch::Tensor x = images.to(scale_.device(), /*non_blocking=*/true).to(torch::kFloat32);
    x = torch::addcmul(shift_, x, scale_);
    return channels_last_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
  }

 private:
  bool channels_last_;
  torch::Tensor scale_, shift_;
};

// Autocast on for the guard's lifetime when mixed precision is asked.
class AutocastGuard {
 public:
  AutocastGuard(std::optional<torch::ScalarType> dtype, c10::DeviceType device)
      : dtype_(dtype), device_(device) {
    if (dtype_) compat::set_autocast(device_, *dtype_, true);
  }
  ~AutocastGuard() {
    if (dtype_) compat::set_autocast(device_, *dtype_, false);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<torch::ScalarType> dtype_;
  c10::DeviceType device_;
};

// Dynamic loss scaling for fp16, with GradScaler's defaults: scale 2^16, halved (and the step
// skipped) when a gradient overflows, doubled after 2000 clean steps. LibTorch has no GradScaler.
// Checking for overflow reads one value back from the device per step, a sync GradScaler avoids;
// it costs little next to a training step.
class LossScaler {
 public:
  explicit LossScaler(bool enabled) : enabled_(enabled) {}
  torch::Tensor scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Unscales the gradients; false when one is not finite, and the optimizer step must be skipped.
  bool unscale(const std::vector<torch::Tensor>& params) {
    if (!enabled_) return true;
    std::vector<torch::Tensor> finite;
    for (const auto& p : params) {
      if (!p.grad().defined()) continue;
      p.grad().mul_(1.0 / scale_);
      finite.push_back(torch::isfinite(p.grad()).all());
    }
    // One read-back for all the gradients.
    const bool all_finite = finite.empty() || torch::stack(finite).all().item<bool>();
    if (!all_finite) {
      scale_ /= 2;
      clean_steps_ = 0;
    } else if (++clean_steps_ == 2000) {
      scale_ *= 2;
      clean_steps_ = 0;
    }
    return all_finite;
  }

 private:
  bool enabled_;
  double scale_ = 65536.0;
  int clean_steps_ = 0;
};

// One evaluated image: its position in the evaluated samples, the predicted class and its logit.
using Prediction = distributed::EvalRecord;

struct EvalResult {
  int64_t correct = 0, total = 0;
  std::vector<Prediction> predictions;
  double accuracy() const { return total ? 100.0 * correct / total : 0.0; }
};

// Everything one run holds, built by setup() and driven by train() or evaluate_only().
class Trainer {
 public:
  explicit Trainer(const TrainConfig& config) : config_(config) {}
  std::string setup();
  std::string train();
  std::string evaluate_only();
  bool stopped() const { return stopped_; }
  // Tells the other ranks of a data-parallel run why this one fails.
  void report_failure(const std::string& reason) {
    if (dp_) dp_->communicator().report_failure(reason);
  }
  // "rank N: " in a data-parallel run, so that every line says which rank it comes from.
  std::string rank_prefix() const {
    return dp_ ? "rank " + std::to_string(dp_->rank()) + ": " : std::string();
  }

 private:
  std::string start_data_parallel(bool cuda);
  std::string agree_and_synchronise();
  bool main_rank() const { return !dp_ || dp_->rank() == 0; }
  // The rank that reports, unless --quiet: what is said for information, not warning.
  bool chatty() const { return main_rank() && !config_.quiet; }
  // The default for decoding and intra-op threads: the ranks of one machine share its cores.
  int cores_per_rank() const {
    return std::max(1, default_threads() / (dp_ ? dp_->local_world_size() : 1));
  }
  std::string load_data();
  std::string load_weights();
  std::string resume();
  std::string train_epoch(int64_t epoch);
  // The epoch's next training batch: the loader's, or with --fixed_batch the first batch again
  // (on the device), steps_per_epoch_ times.
  std::optional<loader::Batch> next_training_batch(int64_t step_in_epoch);
  // Moves the losses still on the device into progress_, in step order.
  std::string collect_losses(std::vector<torch::Tensor>* pending);
  // Writes the batch about to be trained on to --dump_batches (when set); a one-line error.
  std::string dump_batch(const loader::Batch& batch, int64_t epoch) const;
  bool due_for_checkpoint() const;
  std::string save();
  EvalResult evaluate(loader::DataLoader& loader, bool keep_predictions);
  std::string write_predictions(const EvalResult& result, const std::vector<loader::Sample>& set);
  struct EpochTimes {
    double train_seconds, wait_seconds, eval_seconds, epoch_seconds, allreduce_seconds;
    int64_t images, steps;
  };
  // The epoch's lines (stdout: the recipe's line, or with --json its JSON line alone; stderr:
  // times and rates) and its tracked scalars; "" or a one-line reason.
  std::string report_epoch(int64_t epoch, const EvalResult& eval, const EpochTimes& times);

  const TrainConfig& config_;
  std::unique_ptr<distributed::DataParallel> dp_;  // null in a single-process run
  torch::Device device_{torch::kCPU};
  std::optional<torch::ScalarType> autocast_;
  std::vector<std::string> classes_;
  std::vector<loader::Sample> train_set_, eval_set_;
  std::unique_ptr<loader::DataLoader> train_loader_, eval_loader_;
  ResNet model_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::unique_ptr<OneCycle> schedule_;
  std::unique_ptr<tracking::Tracker> tracker_;  // --with_tracking, on the reporting rank
  std::unique_ptr<Normalizer> normalize_;
  std::unique_ptr<LossScaler> scaler_;
  Progress progress_;
  int64_t steps_per_epoch_ = 0;
  std::optional<loader::Batch> fixed_batch_;  // --fixed_batch: the batch every step trains on
  bool stopped_ = false;                      // config_.stop ended training

  bool stop_requested() const { return config_.stop && config_.stop->load(); }
  // Ends training on a stop request: saves where it can and says so in one line.
  std::string stop();
};

std::string Trainer::setup() {
  const bool cuda = !config_.cpu && torch::cuda::is_available();
  if (std::string error = validate(config_, cuda); !error.empty()) return error;
  if (std::string error = start_data_parallel(cuda); !error.empty()) return error;
  device_ =
      cuda ? torch::Device(torch::kCUDA, dp_ ? dp_->local_rank() % torch::cuda::device_count() : 0)
           : torch::Device(torch::kCPU);
  // Debian's LibTorch starts with one intra-op thread whatever the core count.
  at::set_num_threads(config_.threads > 0 ? config_.threads : cores_per_rank());
  torch::manual_seed(config_.seed);
  if (cuda) at::globalContext().setBenchmarkCuDNN(true);
  if (config_.mixed_precision == "bf16") autocast_ = torch::kBFloat16;
  if (config_.mixed_precision == "fp16") autocast_ = torch::kFloat16;
  scaler_ = std::make_unique<LossScaler>(config_.mixed_precision == "fp16");
  normalize_ = std::make_unique<Normalizer>(device_, /*channels_last=*/cuda);

  if (!config_.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config_.output_dir, ec);
    if (ec) return config_.output_dir + ": cannot create: " + ec.message();
  }
  if (std::string error = load_data(); !error.empty()) return error;
  model_ = ResNet(*resnet_config(config_.model), static_cast<int64_t>(classes_.size()));
  if (std::string error = load_weights(); !error.empty()) return error;
  for (auto& item : model_->named_parameters()) {
    item.value().set_requires_grad(config_.train_all || item.key().rfind("fc.", 0) == 0);
  }
  model_->to(device_);
  if (cuda) {
    for (auto& p : model_->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  if (config_.eval_only) return agree_and_synchronise();

  steps_per_epoch_ = static_cast<int64_t>(train_loader_->batches_per_epoch());
  schedule_ = std::make_unique<OneCycle>(
      OneCycleOptions{.max_lr = config_.lr, .total_steps = config_.epochs * steps_per_epoch_});
  // Adam over all parameters, as the recipe: frozen ones never get a gradient, so never move.
  optimizer_ = std::make_unique<torch::optim::Adam>(
      model_->parameters(), torch::optim::AdamOptions(schedule_->initial_lr())
                                .betas(std::make_tuple(schedule_->beta1(0), 0.999)));
  std::ostringstream fingerprint;
  fingerprint << config_.model << ", " << classes_.size() << " classes, " << train_set_.size()
              << " train images, " << config_.epochs << "x" << steps_per_epoch_ << " steps, batch "
              << config_.batch_size << ", size " << config_.image_size << ", lr " << config_.lr
              << ", seed " << config_.seed << (config_.train_all ? ", all layers" : ", fc only");
  if (dp_) fingerprint << ", " << dp_->world_size() << " ranks";
  std::ostringstream lr;
  lr << config_.lr;
  progress_.fingerprint = encode_run_settings({
      {"--model", config_.model},
      {"classes", std::to_string(classes_.size())},
      {"training images", std::to_string(train_set_.size())},
      {"--epochs", std::to_string(config_.epochs)},
      {"steps per epoch", std::to_string(steps_per_epoch_)},
      {"--batch_size", std::to_string(config_.batch_size)},
      {"--image_size", std::to_string(config_.image_size)},
      {"--lr", lr.str()},
      {"--seed", std::to_string(config_.seed)},
      {"--train_all", config_.train_all ? "on" : "off"},
      {"ranks", std::to_string(dp_ ? dp_->world_size() : 1)},
  });
  if (chatty()) {
    std::cerr << "cv_example: " << fingerprint.str() << ", " << eval_set_.size()
              << " eval images, on " << (cuda ? "cuda" : "cpu") << " (" << at::get_num_threads()
              << " intra-op threads), "
              << "mixed precision " << config_.mixed_precision
              << (config_.fixed_batch ? ", every step on one fixed batch" : "") << "\n";
  }
  if (std::string error = resume(); !error.empty()) return error;
  if (config_.with_tracking && main_rank() && !config_.eval_only) {
    std::string error;
    tracker_ = tracking::Tracker::open(config_.project_dir, &error);
    if (!tracker_) return error;
    if (chatty()) {
      std::cerr << "cv_example: tracking to " << tracker_->dir() << " (TensorBoard: tensorboard "
                << "--logdir " << config_.project_dir << ")\n";
    }
  }
  return agree_and_synchronise();
}

std::string Trainer::start_data_parallel(bool cuda) {
  distributed::GroupOptions options;
  options.backend = config_.dist_backend.empty() ? (cuda && compat::kHaveNccl ? "nccl" : "gloo")
                                                 : config_.dist_backend;
  if (options.backend == "nccl" && !cuda && compat::kHaveNccl) {
    return "--dist_backend nccl needs CUDA; on the CPU use gloo";
  }
  options.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config_.dist_timeout_seconds * 1000));
  std::string error;
  dp_ = distributed::DataParallel::start(options, &error);
  if (dp_ && chatty()) {
    std::cerr << "cv_example: " << dp_->world_size() << " ranks, " << options.backend
              << " process group, batch " << config_.batch_size << " per rank ("
              << config_.batch_size * dp_->world_size() << " in all)\n";
  }
  return error;
}

// Every rank checks that the others run the same job, then takes rank 0's model, so that all
// start from the same weights whatever each loaded; gradients are averaged from here on.
std::string Trainer::agree_and_synchronise() {
  if (!dp_) return {};
  const std::string error = distributed::check_every_rank_agrees(
      dp_->communicator(),
      run_facts(config_, classes_, train_set_, eval_set_, progress_.global_step));
  if (!error.empty()) return error;
  dp_->broadcast_state(*model_, /*buffers_only=*/false);
  if (config_.eval_only) return {};
  dp_->prepare_gradients(model_->parameters());
  if (chatty()) {
    std::cerr << "cv_example: gradients averaged in " << dp_->gradient_buckets()
              << " allreduce call(s) per step\n";
  }
  return {};
}

std::string Trainer::load_data() {
  loader::DataSource source;
  if (std::string error =
          open_training_data(config_, dp_ ? dp_->local_world_size() : 1, main_rank(), &source);
      !error.empty()) {
    return error;
  }
  loader::LabeledSet& set = source.set;
  classes_ = std::move(set.classes);
  loader::LoaderOptions options{
      .image_size = config_.image_size,
      .batch_size = config_.batch_size,
      .threads = config_.workers > 0 ? config_.workers : cores_per_rank(),
      .shuffle = false,
      .seed = config_.seed,
      .mode = loader::Mode::kEval,
      .pin_memory = device_.is_cuda(),
      .reduced_decode = config_.fast_decode,
      .store = source.store,
      .shard_rank = dp_ ? dp_->rank() : 0,
      .shard_count = dp_ ? dp_->world_size() : 1,
  };
  if (config_.eval_only) {
    eval_set_ = std::move(set.samples);
  } else {
    const loader::Split split = loader::split_indices(set.samples.size(), 0.8, config_.seed);
    for (size_t i : split.train) train_set_.push_back(set.samples[i]);
    for (size_t i : split.eval) eval_set_.push_back(set.samples[i]);
    if (train_set_.empty() || eval_set_.empty()) {
      return config_.data_dir + ": too few images for an 80/20 split";
    }
    loader::LoaderOptions train_options = options;
    train_options.shuffle = true;
    train_options.mode = loader::Mode::kTrain;
    train_loader_ = std::make_unique<loader::DataLoader>(train_set_, train_options);
  }
  eval_loader_ = std::make_unique<loader::DataLoader>(eval_set_, options);
  return {};
}

std::string Trainer::load_weights() {
  if (config_.weights.empty()) {
    if (config_.eval_only && main_rank()) {
      std::cerr << "cv_example: no --weights: evaluating a random model\n";
    }
    return {};
  }
  TensorMap tensors;
  if (std::string error = read_safetensors(config_.weights, &tensors); !error.empty()) {
    return error;
  }
  bool classifier_skipped = false;
  if (std::string error =
          load_state_dict(*model_, tensors, config_.weights, "fc.", &classifier_skipped);
      !error.empty()) {
    return error;
  }
  if (classifier_skipped) {
    if (config_.eval_only) {
      return config_.weights + ": its classifier has " +
             std::to_string(tensors["fc.weight"].size(0)) + " classes, " + config_.data_dir +
             " has " + std::to_string(classes_.size());
    }
    if (main_rank()) {
      std::cerr << "cv_example: " << config_.weights << ": classifier fc re-initialised for "
                << classes_.size() << " classes (the file has " << tensors["fc.weight"].size(0)
                << ")\n";
    }
  }
  return {};
}

std::string Trainer::resume() {
  std::string path = config_.resume_from_checkpoint;
  if (path.empty()) return {};
  if (path == "latest") {
    std::optional<std::string> latest = latest_checkpoint(config_.output_dir);
    if (!latest) {
      if (main_rank()) {
        std::cerr << "cv_example: no checkpoint in " << config_.output_dir << ", starting afresh\n";
      }
      return {};
    }
    path = *latest;
  }
  if (std::string error = load_checkpoint(path, *model_, *optimizer_, &progress_); !error.empty()) {
    return error;
  }
  std::cerr << "cv_example: " << rank_prefix() << "resumed from " << path << " at epoch "
            << progress_.epoch << ", step " << progress_.step_in_epoch << " of " << steps_per_epoch_
            << "\n";
  if (progress_.epoch >= config_.epochs) {
    std::cerr << "cv_example: that run had finished its " << config_.epochs << " epochs\n";
  }
  return {};
}

std::string Trainer::train() {
  while (progress_.epoch < config_.epochs) {
    // In a data-parallel run the ranks agree on stopping inside a step (see train_epoch).
    if (!dp_ && stop_requested()) return stop();
    if (std::string error = train_epoch(progress_.epoch); !error.empty()) return error;
    if (stopped_) return {};
  }
  if (!config_.output_dir.empty() && main_rank()) {
    const std::string path = (std::filesystem::path(config_.output_dir) / "model.safetensors");
    if (std::string error = write_safetensors(path, state_dict(*model_)); !error.empty()) {
      return error;
    }
    if (chatty()) std::cerr << "cv_example: wrote " << path << "\n";
  }
  // Rank 0 serves the store: it leaves only once every rank is done with it.
  if (dp_) dp_->barrier("the final barrier");
  return {};
}

std::string Trainer::train_epoch(int64_t epoch) {
  const auto start = Clock::now();
  double wait_seconds = 0;
  int64_t images = 0, steps = 0;
  train_loader_->start_epoch(epoch);
  // A resumed epoch replays the batches already trained on without training on them, so the
  // rest of the epoch sees exactly the batches (and augmentations) of an uninterrupted run.
  for (int64_t skipped = 0; skipped < progress_.step_in_epoch; ++skipped) train_loader_->next();

  model_->train();
  if (config_.freeze_bn) {
    for (const auto& module : model_->modules(/*include_self=*/false)) {
      if (module->as<torch::nn::BatchNorm2d>()) module->eval();
    }
  }
  const std::vector<torch::Tensor> params = model_->parameters();
  // Losses stay on the device until a checkpoint or the epoch's end needs them: reading each one
  // back would make every step wait for the device.
  std::vector<torch::Tensor> pending_losses;
  EpochProgress progress_line(chatty() && isatty(STDERR_FILENO) == 1, epoch, steps_per_epoch_,
                              progress_.step_in_epoch);
  for (;;) {
    const auto wait_start = Clock::now();
    std::optional<loader::Batch> batch = next_training_batch(progress_.step_in_epoch);
    wait_seconds += seconds_since(wait_start);
    if (!batch) break;
    if (std::string error = dump_batch(*batch, epoch); !error.empty()) return error;

    const int64_t step = progress_.global_step;
    for (auto& group : optimizer_->param_groups()) {
      auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
      options.lr(schedule_->lr(step));
      options.betas(std::make_tuple(schedule_->beta1(step), std::get<1>(options.betas())));
    }
    const torch::Tensor inputs = (*normalize_)(batch->images);
    const torch::Tensor labels = batch->labels.to(device_, /*non_blocking=*/true);
    torch::Tensor loss;
    {
      AutocastGuard autocast(autocast_, device_.type());
      loss = torch::nn::functional::cross_entropy(model_->forward(inputs), labels);
    }
    optimizer_->zero_grad();
    scaler_->scale(loss).backward();
    // The ranks average their gradients and agree on whether to stop after this step.
    bool stop_now = stop_requested();
    torch::Tensor reported_loss = loss.detach();
    if (dp_) {
      const auto agreed = dp_->average_gradients(stop_now, reported_loss);
      stop_now = agreed.stop;
      reported_loss = agreed.loss;
    }
    if (scaler_->unscale(params)) optimizer_->step();
    pending_losses.push_back(reported_loss);

    images += batch->labels.size(0);
    ++steps;
    ++progress_.global_step;
    ++progress_.step_in_epoch;
    progress_line.step(progress_.step_in_epoch, images);
    if (due_for_checkpoint()) {
      if (std::string error = collect_losses(&pending_losses); !error.empty()) return error;
      if (std::string error = save(); !error.empty()) return error;
    }
    if (dp_ ? stop_now : stop_requested()) {
      if (std::string error = collect_losses(&pending_losses); !error.empty()) return error;
      return stop();
    }
  }
  progress_line.finish();
  if (std::string error = collect_losses(&pending_losses); !error.empty()) return error;
  if (std::string error = train_loader_->error(); !error.empty()) return error;
  const double train_seconds = seconds_since(start);

  const auto eval_start = Clock::now();
  const bool last = epoch + 1 == config_.epochs;
  const EvalResult eval = evaluate(*eval_loader_, last && !config_.predictions_out.empty());
  if (std::string error = eval_loader_->error(); !error.empty()) return error;
  if (std::string error =
          report_epoch(epoch, eval,
                       {.train_seconds = train_seconds,
                        .wait_seconds = wait_seconds,
                        .eval_seconds = seconds_since(eval_start),
                        .epoch_seconds = seconds_since(start),
                        .allreduce_seconds = dp_ ? dp_->take_averaging_seconds() : 0,
                        .images = images,
                        .steps = steps});
      !error.empty()) {
    return error;
  }
  if (last && !config_.predictions_out.empty() && main_rank()) {
    if (std::string error = write_predictions(eval, eval_set_); !error.empty()) return error;
  }
  progress_.epoch = epoch + 1;
  progress_.step_in_epoch = 0;
  progress_.epoch_losses.clear();
  return config_.checkpointing_steps == "epoch" ? save() : std::string();
}

std::string Trainer::stop() {
  stopped_ = true;
  if (!main_rank()) return {};  // rank 0 saves, and speaks for all
  const std::string where = "cv_example: stopped by " + std::string(common::StopSignalName()) +
                            " after step " + std::to_string(progress_.global_step) + " (epoch " +
                            std::to_string(progress_.epoch) + ")";
  if (config_.output_dir.empty()) {
    std::cerr << where << "; nothing saved (no --output_dir)\n";
    return {};
  }
  if (std::string error = save(); !error.empty()) return error;
  std::cerr << where << "; checkpoint saved to "
            << checkpoint_path(config_.output_dir, progress_.global_step)
            << " (continue with --resume_from_checkpoint latest)\n";
  return {};
}

std::optional<loader::Batch> Trainer::next_training_batch(int64_t step_in_epoch) {
  if (!config_.fixed_batch) return train_loader_->next();
  if (step_in_epoch >= steps_per_epoch_) return std::nullopt;
  if (!fixed_batch_) {
    fixed_batch_ = train_loader_->next();
    if (!fixed_batch_) return std::nullopt;
    fixed_batch_->images = fixed_batch_->images.to(device_);
    fixed_batch_->labels = fixed_batch_->labels.to(device_);
  }
  return fixed_batch_;
}

std::string Trainer::dump_batch(const loader::Batch& batch, int64_t epoch) const {
  if (config_.dump_batches.empty()) return {};
  const std::string name = "epoch" + std::to_string(epoch) + "_step" +
                           std::to_string(progress_.step_in_epoch) + ".safetensors";
  return write_safetensors((std::filesystem::path(config_.dump_batches) / name).string(),
                           {{"images", batch.images}, {"labels", batch.labels}});
}

std::string Trainer::collect_losses(std::vector<torch::Tensor>* pending) {
  if (pending->empty()) return {};
  const torch::Tensor losses = torch::stack(*pending).to(torch::kCPU, torch::kFloat64);
  // The losses of the steps just before this one, each logged at its own step with its rate.
  const int64_t first_step = progress_.global_step - losses.numel();
  for (int64_t i = 0; i < losses.numel(); ++i) {
    const double loss = losses.data_ptr<double>()[i];
    progress_.epoch_losses.push_back(loss);
    if (!tracker_) continue;
    if (std::string error = tracker_->log(
            first_step + i, {{"train_loss", loss}, {"lr", schedule_->lr(first_step + i)}});
        !error.empty()) {
      return error;
    }
  }
  pending->clear();
  return tracker_ ? tracker_->flush() : std::string();
}

bool Trainer::due_for_checkpoint() const {
  const int64_t every = checkpoint_every(config_.checkpointing_steps);
  return every > 0 && progress_.global_step % every == 0;
}

std::string Trainer::save() {
  if (!main_rank()) return {};  // every rank holds the same model and optimizer state
  const std::string path = checkpoint_path(config_.output_dir, progress_.global_step);
  if (std::string error = save_checkpoint(path, *model_, *optimizer_, progress_); !error.empty()) {
    return error;
  }
  return prune_checkpoints(config_.output_dir, config_.keep_checkpoints);
}

EvalResult Trainer::evaluate(loader::DataLoader& loader, bool keep_predictions) {
  torch::NoGradGuard no_grad;
  model_->eval();
  // BatchNorm's running statistics as DDP leaves them: rank 0's (its broadcast_buffers).
  if (dp_) dp_->broadcast_state(*model_, /*buffers_only=*/true);
  keep_predictions = keep_predictions || dp_ != nullptr;
  EvalResult result;
  loader.start_epoch(0);
  while (std::optional<loader::Batch> batch = loader.next()) {
    torch::Tensor logits;
    {
      AutocastGuard autocast(autocast_, device_.type());
      logits = model_->forward((*normalize_)(batch->images));
    }
    const auto [best, predicted] = logits.to(torch::kFloat32).max(/*dim=*/1);
    const torch::Tensor labels = batch->labels.to(device_, /*non_blocking=*/true);
    result.correct += predicted.eq(labels).sum().item<int64_t>();
    result.total += batch->labels.size(0);
    if (!keep_predictions) continue;
    const torch::Tensor best_cpu = best.cpu(), predicted_cpu = predicted.cpu();
    const torch::Tensor labels_cpu = batch->labels.cpu();
    for (size_t i = 0; i < batch->sample_indices.size(); ++i) {
      const auto row = static_cast<int64_t>(i);
      const int64_t predicted_class = predicted_cpu[row].item<int64_t>();
      result.predictions.push_back({batch->sample_indices[i], predicted_class,
                                    best_cpu[row].item<float>(),
                                    predicted_class == labels_cpu[row].item<int64_t>()});
    }
  }
  if (!dp_) return result;
  // Each image once: the ranks' records merged, even_batches' repeats dropped.
  result.predictions = dp_->gather_eval(loader.samples(), result.predictions);
  result.total = static_cast<int64_t>(result.predictions.size());
  result.correct = 0;
  for (const Prediction& p : result.predictions) result.correct += p.correct;
  return result;
}

std::string Trainer::write_predictions(const EvalResult& result,
                                       const std::vector<loader::Sample>& set) {
  std::ostringstream csv;
  csv << "file,true_label,predicted_label,logit\n";
  for (const Prediction& p : result.predictions) {
    const loader::Sample& sample = set[p.sample];
    char logit[32];
    std::snprintf(logit, sizeof(logit), "%.6g", p.logit);
    csv << CsvField(std::filesystem::path(sample.path).filename().string()) << ","
        << CsvField(classes_[sample.label]) << "," << CsvField(classes_[p.predicted]) << ","
        << logit << "\n";
  }
  std::ofstream out(config_.predictions_out, std::ios::binary | std::ios::trunc);
  out << csv.str();
  out.close();
  if (!out) return config_.predictions_out + ": cannot write";
  return {};
}

std::string Trainer::report_epoch(int64_t epoch, const EvalResult& eval, const EpochTimes& times) {
  if (!main_rank()) return {};
  double loss_sum = 0;
  for (double loss : progress_.epoch_losses) loss_sum += loss;
  const double mean_loss =
      progress_.epoch_losses.empty() ? 0.0 : loss_sum / progress_.epoch_losses.size();
  // Every rank trains on as many images per epoch (even_batches), so the job's rate is this
  // rank's times the world size.
  const int world = dp_ ? dp_->world_size() : 1;
  const double images_per_second =
      times.train_seconds > 0 ? double(times.images) * world / times.train_seconds : 0;
  const double allreduce_ms = times.steps > 0 ? 1000 * times.allreduce_seconds / times.steps : 0;
  const double wait_fraction =
      times.train_seconds > 0 ? times.wait_seconds / times.train_seconds : 0;
  // The recipe's line, on stdout alone, so scripts comparing runs can read it as is; with --json
  // stdout holds JSON lines only, and the line goes to stderr.
  if (!(config_.json && config_.quiet)) {
    std::fprintf(config_.json ? stderr : stdout, "epoch %" PRId64 ": %.2f\n", epoch,
                 eval.accuracy());
  }
  std::fflush(stdout);
  if (!config_.quiet) {
    std::fprintf(stderr,
                 "epoch %" PRId64
                 ": %s (train %s, eval %s), train loss %.4f, %.1f images/s, waiting for data "
                 "%.1f%% of step time\n",
                 epoch, common::HumanSeconds(times.epoch_seconds).c_str(),
                 common::HumanSeconds(times.train_seconds).c_str(),
                 common::HumanSeconds(times.eval_seconds).c_str(), mean_loss, images_per_second,
                 100 * wait_fraction);
  }
  if (dp_ && !config_.quiet) {
    std::fprintf(stderr, "epoch %" PRId64 ": %d ranks, gradient allreduce %.2f ms per step\n",
                 epoch, world, allreduce_ms);
  }
  if (config_.json) {
    const nlohmann::json line = {{"epoch", epoch},
                                 {"accuracy_pct", eval.accuracy()},
                                 {"train_loss", mean_loss},
                                 {"losses", progress_.epoch_losses},
                                 {"images_per_second", images_per_second},
                                 {"data_wait_fraction", wait_fraction},
                                 {"train_seconds", times.train_seconds},
                                 {"eval_seconds", times.eval_seconds},
                                 {"epoch_seconds", times.epoch_seconds},
                                 {"world_size", world},
                                 {"allreduce_ms_per_step", allreduce_ms}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
  if (!tracker_) return {};
  if (std::string error = tracker_->log(progress_.global_step,
                                        {{"accuracy_pct", eval.accuracy()},
                                         {"epoch_train_loss", mean_loss},
                                         {"images_per_second", images_per_second},
                                         {"data_wait_fraction", wait_fraction},
                                         {"epoch_seconds", times.epoch_seconds}},
                                        epoch);
      !error.empty()) {
    return error;
  }
  return tracker_->flush();
}

std::string Trainer::evaluate_only() {
  const auto start = Clock::now();
  const EvalResult eval = evaluate(*eval_loader_, !config_.predictions_out.empty());
  if (std::string error = eval_loader_->error(); !error.empty()) return error;
  if (dp_) dp_->barrier("the final barrier");
  if (!main_rank()) return {};
  std::printf("eval: %.2f\n", eval.accuracy());
  std::fflush(stdout);
  if (!config_.quiet) {
    std::fprintf(stderr, "eval: %" PRId64 " of %" PRId64 " images right, %.1f images/s\n",
                 eval.correct, eval.total, eval.total / std::max(1e-9, seconds_since(start)));
  }
  if (config_.predictions_out.empty()) return {};
  return write_predictions(eval, eval_set_);
}

}  // namespace

int run(const TrainConfig& config) {
  Trainer trainer(config);
  std::string error;
  try {
    error = trainer.setup();
    if (error.empty()) error = config.eval_only ? trainer.evaluate_only() : trainer.train();
  } catch (const distributed::CollectiveError& e) {
    return fail(trainer.rank_prefix() + e.what());
  } catch (const c10::Error& e) {
    // LibTorch reports misuse and device failures (out of memory, for one) by exception.
    error = e.what_without_backtrace();
  }
  if (!error.empty()) {
    trainer.report_failure(error);
    return fail(trainer.rank_prefix() + error);
  }
  return trainer.stopped() ? kRunStopped : 0;
}

}  // namespace cv_example
