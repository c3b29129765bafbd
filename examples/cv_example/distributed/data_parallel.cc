#include "distributed/data_parallel.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <torch/nn/module.h>

#include <limits>
#include <map>

namespace cv_example::distributed {

std::unique_ptr<DataParallel> DataParallel::start(const GroupOptions& options, std::string* error) {
  auto self = std::make_unique<DataParallel>();
  LaunchEnv env;
  if (!read_launch_env(&env, error)) return error->empty() ? std::move(self) : nullptr;
  if (!error->empty()) return nullptr;
  self->communicator_ = Communicator::connect(env, options, error);
  return self->communicator_ ? std::move(self) : nullptr;
}

std::string DataParallel::rank_prefix() const {
  return communicator_ ? "rank " + std::to_string(rank()) + ": " : std::string();
}

std::string DataParallel::check_every_rank_agrees(const RunFacts& facts) {
  return communicator_ ? distributed::check_every_rank_agrees(*communicator_, facts)
                       : std::string();
}

void DataParallel::report_failure(const std::string& reason) {
  if (communicator_) communicator_->report_failure(reason);
}

void DataParallel::broadcast_state(torch::nn::Module& module, bool buffers_only) {
  if (!communicator_) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors = module.buffers();
  if (!buffers_only) {
    for (const at::Tensor& p : module.parameters()) tensors.push_back(p);
  }
  // One flat tensor per dtype and device, so a model's few hundred tensors take a few calls.
  std::map<std::string, std::vector<at::Tensor>> groups;
  for (const at::Tensor& t : tensors) {
    groups[std::string(c10::toString(t.scalar_type())) + " " + t.device().str()].push_back(t);
  }
  std::vector<at::Tensor> flats;
  for (auto& [key, group] : groups) {
    std::vector<at::Tensor> pieces;
    for (const at::Tensor& t : group) pieces.push_back(t.detach().reshape({-1}));
    flats.push_back(at::cat(pieces));
  }
  communicator_->broadcast(flats, buffers_only ? "the buffer broadcast" : "the model broadcast");
  size_t g = 0;
  for (auto& [key, group] : groups) {
    int64_t offset = 0;
    for (at::Tensor& t : group) {
      t.detach().copy_(flats[g].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
    ++g;
  }
}

void DataParallel::prepare_gradients(const std::vector<at::Tensor>& params) {
  if (!communicator_) return;
  averager_ = std::make_unique<GradientAverager>(*communicator_, params);
}

GradientAverager::Agreed DataParallel::average_gradients(bool stop, const at::Tensor& loss) {
  if (!averager_) return {stop, loss};
  const auto start = std::chrono::steady_clock::now();
  GradientAverager::Agreed agreed = averager_->average(stop, loss);
  averaging_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return agreed;
}

double DataParallel::take_averaging_seconds() {
  const double seconds = averaging_seconds_;
  averaging_seconds_ = 0;
  return seconds;
}

std::vector<EvalRecord> DataParallel::gather_eval(size_t samples,
                                                  const std::vector<EvalRecord>& mine) {
  if (!communicator_) return mine;
  // One allreduce (max) of a dense table: rows seen, predicted class, logit, correct. Every rank
  // that saw a sample computed the same record, so the maximum is that record.
  constexpr double kUnseen = -std::numeric_limits<double>::infinity();
  const int64_t n = static_cast<int64_t>(samples);
  at::Tensor table = at::full({4, n}, kUnseen, at::kDouble);
  auto cells = table.accessor<double, 2>();
  for (const EvalRecord& r : mine) {
    const auto i = static_cast<int64_t>(r.sample);
    cells[0][i] = 1;
    cells[1][i] = static_cast<double>(r.predicted);
    cells[2][i] = r.logit;
    cells[3][i] = r.correct ? 1 : 0;
  }
  at::Tensor reduced = table.to(communicator_->device());
  communicator_->allreduce({reduced}, ::c10d::ReduceOp::MAX, "the evaluation gather");
  table.copy_(reduced);
  std::vector<EvalRecord> all;
  for (int64_t i = 0; i < n; ++i) {
    if (cells[0][i] != 1) continue;  // no rank could read it
    all.push_back({static_cast<size_t>(i), static_cast<int64_t>(cells[1][i]),
                   static_cast<float>(cells[2][i]), cells[3][i] == 1});
  }
  return all;
}

}  // namespace cv_example::distributed
