// One rank's membership in a data-parallel job: the key-value store every rank meets at and the
// c10d process group (Gloo on CPUs, NCCL on GPUs) its collectives run on. Nothing here waits
// forever: every store read and every collective gives up after the timeout given to connect().
#ifndef CV_EXAMPLE_DISTRIBUTED_COMMUNICATOR_H_
#define CV_EXAMPLE_DISTRIBUTED_COMMUNICATOR_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "distributed/launch_env.h"
#include "torch_compat.h"

namespace cv_example::distributed {

// A collective or store operation that failed; what() is one line naming, where it can be told,
// the rank that made it fail (one that died, stalled past the timeout, or reported an error).
class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GroupOptions {
  std::string backend = "gloo";  // "gloo" or "nccl"
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

class Communicator {
 public:
  // Connects this rank: serves the store on rank 0 (or joins torchrun's agent store), waits until
  // every rank has arrived, then makes the process group. Returns null with `*error` set to one
  // line (a port in use, an unreachable master, a rank that never came, no NCCL in this build).
  static std::unique_ptr<Communicator> connect(const LaunchEnv& env, const GroupOptions& options,
                                               std::string* error);
  ~Communicator();

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const LaunchEnv& env() const { return env_; }
  std::chrono::milliseconds timeout() const { return options_.timeout; }
  // Where the group's tensors must live: this rank's GPU for NCCL, the CPU for Gloo.
  at::Device device() const;
  // The store, under a prefix of the trainer's own, for agreements outside the collectives.
  ::c10d::Store& store() { return *store_; }

  // Overwrites `tensors` (contiguous) on every rank with rank 0's. `what` names the step in
  // messages. Throws CollectiveError.
  void broadcast(std::vector<at::Tensor> tensors, const std::string& what);
  // Reduces each of `tensors` (contiguous) in place over all ranks: all are started, then all
  // awaited. Throws CollectiveError.
  void allreduce(std::vector<at::Tensor> tensors, ::c10d::ReduceOp op, const std::string& what);
  // Returns once every rank got here. Throws CollectiveError.
  void barrier(const std::string& what);

  // Tells the other ranks why this one is about to fail, so that their messages name it and the
  // cause. Best effort: never throws.
  void report_failure(const std::string& reason);

 private:
  Communicator(LaunchEnv env, GroupOptions options) : env_(std::move(env)), options_(options) {}
  std::string wait_for_every_rank();
  void wait(std::vector<c10::intrusive_ptr<::c10d::Work>>& works, const std::string& what);
  // The one-line message for a failed `what`, once the other ranks had a moment to say whether
  // they failed too: those that said nothing are the ones that died or stalled.
  std::string explain_failure(const std::string& what, const std::string& cause);

  LaunchEnv env_;
  GroupOptions options_;
  c10::intrusive_ptr<::c10d::Store> base_store_;  // TCPStore, or the agent's under its prefix
  c10::intrusive_ptr<::c10d::Store> store_;       // ours, under "cv_example/"
  c10::intrusive_ptr<compat::CollectiveGroup> group_;
};

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_COMMUNICATOR_H_
