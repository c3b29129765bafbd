#include <ATen/Context.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "run_facts.h"
#include "safetensors.h"
#include "torch_compat.h"
#include "trainer_run.h"
#include "training_data.h"

namespace cv_example {

std::string Trainer::setup() {
  const bool cuda = !config_.cpu && torch::cuda::is_available();
  if (config_.mixed_precision == MixedPrecision::kFp16 && !cuda) {
    return "--mixed_precision fp16 needs a CUDA device; on the CPU use bf16";
  }
  if (std::string error = start_data_parallel(cuda); !error.empty()) return error;
  choose_device(cuda);
  if (!config_.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config_.output_dir, ec);
    if (ec) return config_.output_dir + ": cannot create: " + ec.message();
  }
  if (std::string error = load_data(); !error.empty()) return error;
  if (std::string error = build_model(); !error.empty()) return error;
  if (!config_.eval_only) {
    prepare_training();
    describe_run();
    if (std::string error = resume(); !error.empty()) return error;
    if (std::string error = open_tracker(); !error.empty()) return error;
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
  if (dp_ && dp_->distributed() && chatty()) {
    std::cerr << "cv_example: " << dp_->world_size() << " ranks, " << options.backend
              << " process group, batch " << config_.batch_size << " per rank ("
              << config_.batch_size * dp_->world_size() << " in all)\n";
  }
  return error;
}

void Trainer::choose_device(bool cuda) {
  device_ = cuda ? torch::Device(torch::kCUDA, dp_->local_rank() % torch::cuda::device_count())
                 : torch::Device(torch::kCPU);
  // Debian's LibTorch starts with one intra-op thread whatever the core count.
  at::set_num_threads(config_.threads > 0 ? config_.threads : cores_per_rank());
  torch::manual_seed(config_.seed);
  if (cuda) at::globalContext().setBenchmarkCuDNN(true);
  scaler_ = std::make_unique<LossScaler>(config_.mixed_precision == MixedPrecision::kFp16);
  normalize_ = std::make_unique<Normalizer>(device_, /*channels_last=*/cuda);
}

std::string Trainer::load_data() {
  loader::DataSource source;
  if (std::string error =
          open_training_data(config_, dp_->local_world_size(), main_rank(), &source);
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
      .shard_rank = dp_->rank(),
      .shard_count = dp_->world_size(),
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
    batches_ = std::make_unique<TrainingBatches>(*train_loader_, config_.fixed_batch, device_,
                                                 config_.dump_batches);
  }
  eval_loader_ = std::make_unique<loader::DataLoader>(eval_set_, options);
  return {};
}

std::string Trainer::build_model() {
  model_ = ResNet(*resnet_config(config_.model), static_cast<int64_t>(classes_.size()));
  if (std::string error = load_weights(); !error.empty()) return error;
  for (auto& item : model_->named_parameters()) {
    item.value().set_requires_grad(config_.train_all || item.key().rfind("fc.", 0) == 0);
  }
  model_->to(device_);
  if (device_.is_cuda()) {
    for (auto& p : model_->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  params_ = model_->parameters();
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
      !error.empty() || !classifier_skipped) {
    return error;
  }
  const std::string theirs = std::to_string(tensors["fc.weight"].size(0));
  if (config_.eval_only) {
    return config_.weights + ": its classifier has " + theirs + " classes, " + config_.data_dir +
           " has " + std::to_string(classes_.size());
  }
  if (main_rank()) {
    std::cerr << "cv_example: " << config_.weights << ": classifier fc re-initialised for "
              << classes_.size() << " classes (the file has " << theirs << ")\n";
  }
  return {};
}

void Trainer::prepare_training() {
  const int64_t steps_per_epoch = batches_->steps_per_epoch();
  schedule_ = std::make_unique<OneCycle>(
      OneCycleOptions{.max_lr = config_.lr, .total_steps = config_.epochs * steps_per_epoch});
  // Adam over all parameters, as the recipe: frozen ones never get a gradient, so never move.
  optimizer_ = std::make_unique<torch::optim::Adam>(
      params_, torch::optim::AdamOptions(schedule_->initial_lr())
                   .betas(std::make_tuple(schedule_->beta1(0), 0.999)));
  std::ostringstream lr;
  lr << config_.lr;
  progress_.fingerprint = encode_run_settings({
      {"--model", config_.model},
      {"classes", std::to_string(classes_.size())},
      {"training images", std::to_string(train_set_.size())},
      {"--epochs", std::to_string(config_.epochs)},
      {"steps per epoch", std::to_string(steps_per_epoch)},
      {"--batch_size", std::to_string(config_.batch_size)},
      {"--image_size", std::to_string(config_.image_size)},
      {"--lr", lr.str()},
      {"--seed", std::to_string(config_.seed)},
      {"--train_all", config_.train_all ? "on" : "off"},
      {"ranks", std::to_string(dp_->world_size())},
  });
}

void Trainer::describe_run() const {
  if (!chatty()) return;
  std::cerr << "cv_example: " << config_.model << ", " << classes_.size() << " classes, "
            << train_set_.size() << " train images, " << config_.epochs << "x"
            << batches_->steps_per_epoch() << " steps, batch " << config_.batch_size << ", size "
            << config_.image_size << ", lr " << config_.lr << ", seed " << config_.seed
            << (config_.train_all ? ", all layers" : ", fc only");
  if (dp_->distributed()) std::cerr << ", " << dp_->world_size() << " ranks";
  std::cerr << ", " << eval_set_.size() << " eval images, on " << device_.type() << " ("
            << at::get_num_threads() << " intra-op threads), mixed precision "
            << mixed_precision_name(config_.mixed_precision)
            << (config_.fixed_batch ? ", every step on one fixed batch" : "") << "\n";
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
            << progress_.epoch << ", step " << progress_.step_in_epoch << " of "
            << batches_->steps_per_epoch() << "\n";
  if (progress_.epoch >= config_.epochs) {
    std::cerr << "cv_example: that run had finished its " << config_.epochs << " epochs\n";
  }
  return {};
}

std::string Trainer::open_tracker() {
  if (!config_.with_tracking || !main_rank()) return {};
  std::string error;
  tracker_ = tracking::Tracker::open(config_.project_dir, &error);
  if (!tracker_) return error;
  if (chatty()) {
    std::cerr << "cv_example: tracking to " << tracker_->dir() << " (TensorBoard: tensorboard "
              << "--logdir " << config_.project_dir << ")\n";
  }
  return {};
}

// Every rank checks that the others run the same job, then takes rank 0's model, so that all
// start from the same weights whatever each loaded; gradients are averaged from here on.
std::string Trainer::agree_and_synchronise() {
  if (std::string error = dp_->check_every_rank_agrees(
          run_facts(config_, classes_, train_set_, eval_set_, progress_.global_step));
      !error.empty()) {
    return error;
  }
  dp_->broadcast_state(*model_, /*buffers_only=*/false);
  if (config_.eval_only) return {};
  dp_->prepare_gradients(params_);
  if (dp_->distributed() && chatty()) {
    std::cerr << "cv_example: gradients averaged in " << dp_->gradient_buckets()
              << " allreduce call(s) per step\n";
  }
  return {};
}

}  // namespace cv_example
