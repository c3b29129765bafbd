// The training loop: epochs of steps, each epoch evaluated and reported, checkpoints and stops
// between steps. What comes before the first step is in trainer_setup.cc.
#include "trainer.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "common/stop_signals.h"
#include "epoch_progress.h"
#include "safetensors.h"
#include "trainer_run.h"

namespace cv_example {
namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int fail(const std::string& message) {
  std::cerr << "cv_example: " << message << "\n";
  return 1;
}

}  // namespace

std::string check_options(const TrainConfig& c) {
  if (c.epochs < 1 || c.batch_size < 1) return "--epochs and --batch_size must be at least 1";
  if (c.image_size < 32) return "--image_size must be at least 32";
  if (!(c.lr > 0)) return "--lr must be positive";
  if (!resnet_config(c.model)) {
    std::string known;
    for (const auto& name : resnet_names()) known += " " + name;
    return "unknown --model " + c.model + " (known:" + known + ")";
  }
  if ((c.checkpointing.when != CheckpointSchedule::When::kNever ||
       c.resume_from_checkpoint == "latest") &&
      c.output_dir.empty()) {
    return "--checkpointing_steps and --resume_from_checkpoint latest need --output_dir";
  }
  if (c.eval_only && !c.resume_from_checkpoint.empty()) {
    return "--eval_only takes --weights (training writes OUTPUT_DIR/model.safetensors), "
           "not a checkpoint";
  }
  return {};
}

std::string Trainer::train() {
  while (progress_.epoch < config_.epochs) {
    // Ranks agree on stopping inside a step (see train_step); one process may stop here.
    if (!dp_->distributed() && stop_requested()) return stop();
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
  dp_->barrier("the final barrier");
  return {};
}

std::string Trainer::train_epoch(int64_t epoch) {
  const auto start = Clock::now();
  EpochFigures figures{.epoch = epoch, .world_size = dp_->world_size()};
  // A resumed epoch replays the batches already trained on without training on them, so the
  // rest of the epoch sees exactly the batches (and augmentations) of an uninterrupted run.
  batches_->start_epoch(epoch, progress_.step_in_epoch);
  model_->train();
  if (config_.freeze_bn) {
    for (const auto& module : model_->modules(/*include_self=*/false)) {
      if (module->as<torch::nn::BatchNorm2d>()) module->eval();
    }
  }
  EpochProgress progress_line(chatty() && isatty(STDERR_FILENO) == 1, epoch,
                              batches_->steps_per_epoch(), progress_.step_in_epoch);
  for (;;) {
    const auto wait_start = Clock::now();
    std::string error;
    std::optional<loader::Batch> batch = batches_->next(&error);
    figures.wait_seconds += seconds_since(wait_start);
    if (!error.empty()) return error;
    if (!batch) break;
    const bool stop_now = train_step(*batch);
    figures.images += batch->labels.size(0);
    ++figures.steps;
    progress_line.step(progress_.step_in_epoch, figures.images);
    if (config_.checkpointing.after_step(progress_.global_step) || stop_now) {
      if (std::string error = collect_losses(); !error.empty()) return error;
      if (stop_now) return stop();
      if (std::string error = save(); !error.empty()) return error;
    }
  }
  progress_line.finish();
  if (std::string error = collect_losses(); !error.empty()) return error;
  figures.train_seconds = seconds_since(start);
  return finish_epoch(std::move(figures), start);
}

bool Trainer::train_step(const loader::Batch& batch) {
  const int64_t step = progress_.global_step;
  for (auto& group : optimizer_->param_groups()) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    options.lr(schedule_->lr(step));
    options.betas(std::make_tuple(schedule_->beta1(step), std::get<1>(options.betas())));
  }
  const torch::Tensor inputs = (*normalize_)(batch.images);
  const torch::Tensor labels = batch.labels.to(device_, /*non_blocking=*/true);
  torch::Tensor loss;
  {
    AutocastGuard autocast(autocast_dtype(config_.mixed_precision), device_.type());
    loss = torch::nn::functional::cross_entropy(model_->forward(inputs), labels);
  }
  optimizer_->zero_grad();
  scaler_->scale(loss).backward();
  // The ranks average their gradients and agree on whether to stop after this step.
  const auto agreed = dp_->average_gradients(stop_requested(), loss.detach());
  if (scaler_->unscale(params_)) optimizer_->step();
  pending_losses_.push_back(agreed.loss);
  ++progress_.global_step;
  ++progress_.step_in_epoch;
  return agreed.stop;
}

std::string Trainer::finish_epoch(EpochFigures figures, Clock::time_point start) {
  const auto eval_start = Clock::now();
  const bool last = figures.epoch + 1 == config_.epochs;
  const bool predictions = last && !config_.predictions_out.empty() && main_rank();
  const EvalResult eval = evaluate(predictions);
  if (std::string error = eval_loader_->error(); !error.empty()) return error;
  figures.accuracy_pct = eval.accuracy();
  figures.losses = progress_.epoch_losses;
  figures.eval_seconds = seconds_since(eval_start);
  figures.epoch_seconds = seconds_since(start);
  figures.allreduce_seconds = dp_->take_averaging_seconds();
  if (main_rank()) {
    if (std::string error = report_epoch(figures, {.json = config_.json, .quiet = config_.quiet},
                                         tracker_.get(), progress_.global_step);
        !error.empty()) {
      return error;
    }
  }
  if (predictions) {
    if (std::string error =
            write_predictions_csv(config_.predictions_out, eval, eval_set_, classes_);
        !error.empty()) {
      return error;
    }
  }
  progress_.epoch = figures.epoch + 1;
  progress_.step_in_epoch = 0;
  progress_.epoch_losses.clear();
  return config_.checkpointing.at_epoch_end() ? save() : std::string();
}

std::string Trainer::collect_losses() {
  if (pending_losses_.empty()) return {};
  const torch::Tensor losses = torch::stack(pending_losses_).to(torch::kCPU, torch::kFloat64);
  pending_losses_.clear();
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
  return tracker_ ? tracker_->flush() : std::string();
}

std::string Trainer::save() {
  if (!main_rank()) return {};  // every rank holds the same model and optimizer state
  const std::string path = checkpoint_path(config_.output_dir, progress_.global_step);
  if (std::string error = save_checkpoint(path, *model_, *optimizer_, progress_); !error.empty()) {
    return error;
  }
  return prune_checkpoints(config_.output_dir, config_.keep_checkpoints);
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

EvalResult Trainer::evaluate(bool keep_predictions) {
  torch::NoGradGuard no_grad;
  model_->eval();
  // BatchNorm's running statistics as DDP leaves them: rank 0's (its broadcast_buffers).
  dp_->broadcast_state(*model_, /*buffers_only=*/true);
  // Several ranks count each image once only through their merged predictions.
  keep_predictions = keep_predictions || dp_->distributed();
  EvalResult result;
  eval_loader_->start_epoch(0);
  while (std::optional<loader::Batch> batch = eval_loader_->next()) {
    torch::Tensor logits;
    {
      AutocastGuard autocast(autocast_dtype(config_.mixed_precision), device_.type());
      logits = model_->forward((*normalize_)(batch->images));
    }
    const auto [best, predicted] = logits.to(torch::kFloat32).max(/*dim=*/1);
    const torch::Tensor labels = batch->labels.to(device_, /*non_blocking=*/true);
    const torch::Tensor correct = predicted.eq(labels);
    result.correct += correct.sum().item<int64_t>();
    result.total += batch->labels.size(0);
    if (!keep_predictions) continue;
    const torch::Tensor best_cpu = best.cpu(), predicted_cpu = predicted.cpu();
    const torch::Tensor correct_cpu = correct.cpu();
    for (size_t i = 0; i < batch->sample_indices.size(); ++i) {
      const auto row = static_cast<int64_t>(i);
      result.predictions.push_back({batch->sample_indices[i], predicted_cpu[row].item<int64_t>(),
                                    best_cpu[row].item<float>(), correct_cpu[row].item<bool>()});
    }
  }
  if (!keep_predictions) return result;
  // Each image once: the ranks' records merged, even_batches' repeats dropped.
  result.predictions = dp_->gather_eval(eval_loader_->samples(), result.predictions);
  result.total = static_cast<int64_t>(result.predictions.size());
  result.correct = 0;
  for (const Prediction& p : result.predictions) result.correct += p.correct;
  return result;
}

std::string Trainer::evaluate_only() {
  const auto start = Clock::now();
  const EvalResult eval = evaluate(!config_.predictions_out.empty());
  if (std::string error = eval_loader_->error(); !error.empty()) return error;
  dp_->barrier("the final barrier");
  if (!main_rank()) return {};
  std::printf("eval: %.2f\n", eval.accuracy());
  std::fflush(stdout);
  if (!config_.quiet) {
    std::fprintf(stderr, "eval: %" PRId64 " of %" PRId64 " images right, %.1f images/s\n",
                 eval.correct, eval.total, eval.total / std::max(1e-9, seconds_since(start)));
  }
  if (config_.predictions_out.empty()) return {};
  return write_predictions_csv(config_.predictions_out, eval, eval_set_, classes_);
}

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
