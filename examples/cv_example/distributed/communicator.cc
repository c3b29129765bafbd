#include "distributed/communicator.h"

#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace cv_example::distributed {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The first line of an exception's message, without LibTorch's backtrace, kept short.
std::string first_line(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = torch_error ? torch_error->what_without_backtrace() : e.what();
  text = text.substr(0, text.find('\n'));
  return text.size() > 240 ? text.substr(0, 240) + "..." : text;
}

std::string seconds_text(milliseconds duration) {
  const double seconds = duration.count() / 1000.0;
  char text[32];
  std::snprintf(text, sizeof(text), "%g s", seconds);
  return text;
}

std::vector<uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }

#ifdef CV_EXAMPLE_WITH_GLOO
bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Gloo's network device: the interface GLOO_SOCKET_IFNAME names (as PyTorch reads it), loopback
// when the whole job runs on this machine, else the address this machine's hostname resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const LaunchEnv& env) {
  if (const char* name = std::getenv("GLOO_SOCKET_IFNAME"); name != nullptr && *name != '\0') {
    return ::c10d::ProcessGroupGloo::createDeviceForInterface(name);
  }
  if (is_loopback(env.master_addr)) {
    return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

// A Gloo group whose collectives give up after `timeout` (null where this build has no Gloo).
c10::intrusive_ptr<compat::CollectiveGroup> make_gloo_group(
    [[maybe_unused]] const c10::intrusive_ptr<::c10d::Store>& store,
    [[maybe_unused]] const LaunchEnv& env, [[maybe_unused]] milliseconds timeout) {
#ifdef CV_EXAMPLE_WITH_GLOO
  auto options = ::c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(gloo_device(env));
  return c10::make_intrusive<::c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
#else
  return {};
#endif
}

// The store: served by rank 0 on MASTER_PORT, or torchrun's agent's under its prefix.
c10::intrusive_ptr<::c10d::Store> open_store(const LaunchEnv& env, milliseconds timeout,
                                             std::string* error) {
  ::c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(env.master_port);
  options.isServer = env.rank == 0 && !env.agent_store;
  options.numWorkers = static_cast<size_t>(env.world_size);
  options.waitWorkers = false;  // wait_for_every_rank() waits, and names who is missing
  options.timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10::intrusive_ptr<::c10d::Store> store = compat::make_tcp_store(env.master_addr, options);
    if (!env.agent_store) return store;
    return c10::make_intrusive<::c10d::PrefixStore>(env.agent_prefix, store);
  } catch (const std::exception& e) {
    const std::string cause = first_line(e);
    if (options.isServer && cause.find("ddress already in use") != std::string::npos) {
      *error = "cannot serve the store on port " + std::to_string(env.master_port) +
               ": the port is in use (choose another --master_port / MASTER_PORT)";
    } else if (options.isServer) {
      *error = "cannot serve the store on port " + std::to_string(env.master_port) + ": " + cause;
    } else {
      *error = "cannot reach the store at " + where + " within " + seconds_text(timeout) +
               " (is rank 0 running, and MASTER_ADDR/MASTER_PORT right?): " + cause;
    }
    return {};
  }
}

}  // namespace

std::unique_ptr<Communicator> Communicator::connect(const LaunchEnv& env,
                                                    const GroupOptions& options,
                                                    std::string* error) {
  if (options.backend != "gloo" && options.backend != "nccl") {
    *error = "--dist_backend must be gloo or nccl, not " + options.backend;
    return nullptr;
  }
  if (options.backend == "nccl" && !compat::kHaveNccl) {
    *error = "--dist_backend nccl: this build's LibTorch has no NCCL (a CPU build); use gloo";
    return nullptr;
  }
  if (options.backend == "gloo" && !compat::kHaveGloo) {
    *error =
        "--dist_backend gloo: this build has no Gloo (its headers were not found: "
        "apt-get install libgloo-dev and build again); use nccl";
    return nullptr;
  }
  std::unique_ptr<Communicator> self(new Communicator(env, options));
  self->base_store_ = open_store(env, options.timeout, error);
  if (!self->base_store_) return nullptr;
  self->store_ = c10::make_intrusive<::c10d::PrefixStore>("cv_example", self->base_store_);
  if (*error = self->wait_for_every_rank(); !error->empty()) return nullptr;
  try {
    auto group_store = c10::make_intrusive<::c10d::PrefixStore>("default_pg", self->base_store_);
    self->group_ =
        options.backend == "nccl"
            ? compat::make_nccl_group(group_store, env.rank, env.world_size, options.timeout)
            : make_gloo_group(group_store, env, options.timeout);
  } catch (const std::exception& e) {
    *error = "cannot make the " + options.backend + " process group: " + first_line(e);
    return nullptr;
  }
  return self;
}

Communicator::~Communicator() = default;

std::string Communicator::wait_for_every_rank() {
  try {
    store_->set("joined/" + std::to_string(rank()), bytes("1"));
    const auto deadline = Clock::now() + options_.timeout;
    std::vector<int> missing;
    do {
      missing.clear();
      for (int r = 0; r < world_size(); ++r) {
        if (!store_->check({"joined/" + std::to_string(r)})) missing.push_back(r);
      }
      if (missing.empty()) return {};
      std::this_thread::sleep_for(milliseconds(20));
    } while (Clock::now() < deadline);
    std::string names;
    for (size_t i = 0; i < missing.size() && i < 8; ++i) {
      names += (i ? ", " : "") + std::to_string(missing[i]);
    }
    if (missing.size() > 8) names += ", ...";
    return std::string(missing.size() == 1 ? "rank " : "ranks ") + names + " did not join within " +
           seconds_text(options_.timeout) + " (--dist_timeout)";
  } catch (const std::exception& e) {
    return "lost the store while waiting for the other ranks: " + first_line(e);
  }
}

void Communicator::broadcast(std::vector<at::Tensor> tensors, const std::string& what) {
  std::vector<c10::intrusive_ptr<::c10d::Work>> works;
  try {
    for (at::Tensor& tensor : tensors) {
      std::vector<at::Tensor> one = {tensor};
      works.push_back(group_->broadcast(one, ::c10d::BroadcastOptions{}));
    }
  } catch (const std::exception& e) {
    throw CollectiveError(explain_failure(what, first_line(e)));
  }
  wait(works, what);
}

void Communicator::allreduce(std::vector<at::Tensor> tensors, ::c10d::ReduceOp op,
                             const std::string& what) {
  std::vector<c10::intrusive_ptr<::c10d::Work>> works;
  try {
    for (at::Tensor& tensor : tensors) {
      std::vector<at::Tensor> one = {tensor};
      ::c10d::AllreduceOptions options;
      options.reduceOp = op;
      works.push_back(group_->allreduce(one, options));
    }
  } catch (const std::exception& e) {
    throw CollectiveError(explain_failure(what, first_line(e)));
  }
  wait(works, what);
}

at::Device Communicator::device() const {
  return options_.backend == "nccl" ? at::Device(at::kCUDA, env_.local_rank) : at::Device(at::kCPU);
}

void Communicator::barrier(const std::string& what) {
  // An allreduce of one value: Gloo's barrier and NCCL's differ in what they wait for.
  allreduce({at::zeros({1}, at::TensorOptions().device(device()))}, ::c10d::ReduceOp::SUM, what);
}

void Communicator::wait(std::vector<c10::intrusive_ptr<::c10d::Work>>& works,
                        const std::string& what) {
  try {
    for (auto& work : works) work->wait(options_.timeout);
  } catch (const std::exception& e) {
    throw CollectiveError(explain_failure(what, first_line(e)));
  }
}

void Communicator::report_failure(const std::string& reason) {
  try {
    store_->set("failed/" + std::to_string(rank()), bytes(reason.empty() ? "error" : reason));
  } catch (const std::exception&) {
    // The store is gone with rank 0; the others learn of this rank's end from the group.
  }
}

std::string Communicator::explain_failure(const std::string& what, const std::string& cause) {
  const std::string head = what + " failed: ";
  const std::string tail = " (" + cause + ")";
  std::vector<std::string> reasons(world_size());
  try {
    // Empty: "a collective failed here".
    store_->set("failed/" + std::to_string(rank()), std::vector<uint8_t>{});
    // The other survivors report within moments of this one; the silent ones are the culprits.
    const auto deadline =
        Clock::now() + std::min<milliseconds>(options_.timeout, milliseconds(3000));
    std::vector<int> silent;
    do {
      silent.clear();
      for (int r = 0; r < world_size(); ++r) {
        const std::string key = "failed/" + std::to_string(r);
        if (r == rank() || !reasons[r].empty()) continue;
        if (!store_->check({key})) {
          silent.push_back(r);
          continue;
        }
        const std::vector<uint8_t> value = store_->get(key);
        reasons[r] = value.empty() ? std::string("-") : std::string(value.begin(), value.end());
      }
      if (silent.empty()) break;
      std::this_thread::sleep_for(milliseconds(50));
    } while (Clock::now() < deadline);
    for (int r = 0; r < world_size(); ++r) {
      if (r != rank() && !reasons[r].empty() && reasons[r] != "-") {
        return head + "rank " + std::to_string(r) + " failed: " + reasons[r] + tail;
      }
    }
    if (!silent.empty()) {
      return head + "rank " + std::to_string(silent.front()) +
             " stopped responding (it died, or stalled longer than --dist_timeout " +
             seconds_text(options_.timeout) + ")" + tail;
    }
  } catch (const std::exception&) {
    if (rank() != 0) {
      return head + "rank 0 is gone (the store it served cannot be reached)" + tail;
    }
  }
  return head + "a rank failed" + tail;
}

}  // namespace cv_example::distributed
