#include "run_facts.h"

#include <filesystem>
#include <sstream>

namespace cv_example {
namespace {

// "370 images, digest 0123abcd...": the file names (not the directory) and labels, in order.
std::string describe_images(const std::vector<loader::Sample>& samples) {
  std::string names;
  for (const loader::Sample& sample : samples) {
    names += std::filesystem::path(sample.path).filename().string() + "\t" +
             std::to_string(sample.label) + "\n";
  }
  return std::to_string(samples.size()) + " images, digest " + distributed::digest(names);
}

std::string text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

distributed::RunFacts run_facts(const TrainConfig& c, const std::vector<std::string>& classes,
                                const std::vector<loader::Sample>& train_set,
                                const std::vector<loader::Sample>& eval_set, int64_t resumed_step) {
  std::string class_list;
  for (const std::string& name : classes) class_list += name + "\n";
  const auto flag = [](bool on) { return std::string(on ? "on" : "off"); };
  return {{"--model", c.model},
          {"--epochs", std::to_string(c.epochs)},
          {"--batch_size", std::to_string(c.batch_size)},
          {"--image_size", std::to_string(c.image_size)},
          {"--lr", text(c.lr)},
          {"--seed", std::to_string(c.seed)},
          {"--mixed_precision", mixed_precision_name(c.mixed_precision)},
          {"--train_all", flag(c.train_all)},
          {"--freeze_bn", flag(c.freeze_bn)},
          {"--fast_decode", flag(c.fast_decode)},
          {"--fixed_batch", flag(c.fixed_batch)},
          {"--eval_only", flag(c.eval_only)},
          {"--checkpointing_steps", checkpoint_schedule_name(c.checkpointing)},
          {"--dist_timeout", text(c.dist_timeout_seconds)},
          {"the classes",
           std::to_string(classes.size()) + ", digest " + distributed::digest(class_list)},
          {"the training images", describe_images(train_set)},
          {"the evaluation images", describe_images(eval_set)},
          {"the step resumed from", std::to_string(resumed_step)}};
}

}  // namespace cv_example
