#include "distributed/launch_env.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace cv_example::distributed {
namespace {

// The integer in variable `name`, within [low, high]; false with `*error` set otherwise.
bool read_int(const char* name, int low, int high, int* value, std::string* error) {
  const char* text = std::getenv(name);
  if (text == nullptr) {
    *error = std::string(name) + " is not set (torchrun's variables are RANK, WORLD_SIZE, " +
             "LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)";
    return false;
  }
  const std::string_view view(text);
  const auto [end, status] = std::from_chars(view.data(), view.data() + view.size(), *value);
  if (status != std::errc() || end != view.data() + view.size() || *value < low || *value > high) {
    *error = std::string(name) + "=" + text + ": expected a number from " + std::to_string(low) +
             " to " + std::to_string(high);
    return false;
  }
  return true;
}

}  // namespace

bool read_launch_env(LaunchEnv* env, std::string* error) {
  error->clear();
  if (std::getenv("WORLD_SIZE") == nullptr) return false;
  constexpr int kMaxRanks = 1 << 20;
  if (!read_int("WORLD_SIZE", 1, kMaxRanks, &env->world_size, error) ||
      !read_int("RANK", 0, env->world_size - 1, &env->rank, error) ||
      !read_int("LOCAL_WORLD_SIZE", 1, env->world_size, &env->local_world_size, error) ||
      !read_int("LOCAL_RANK", 0, env->local_world_size - 1, &env->local_rank, error) ||
      !read_int("MASTER_PORT", 1, 65535, &env->master_port, error)) {
    return true;
  }
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0') {
    *error = "MASTER_ADDR is not set";
    return true;
  }
  env->master_addr = addr;
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  env->agent_store = agent != nullptr && std::string_view(agent) == "True";
  if (env->agent_store) {
    const char* restarts = std::getenv("TORCHELASTIC_RESTART_COUNT");
    env->agent_prefix = std::string("/worker/attempt_") + (restarts ? restarts : "0");
  }
  return true;
}

}  // namespace cv_example::distributed
