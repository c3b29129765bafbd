// torchrun's environment contract, as this process was started under it: by torchrun, by any
// launcher that sets the same variables, or by cv_example's own launcher (launcher.h).
#ifndef CV_EXAMPLE_DISTRIBUTED_LAUNCH_ENV_H_
#define CV_EXAMPLE_DISTRIBUTED_LAUNCH_ENV_H_

#include <string>

namespace cv_example::distributed {

struct LaunchEnv {
  int rank = 0;              // RANK
  int world_size = 1;        // WORLD_SIZE
  int local_rank = 0;        // LOCAL_RANK
  int local_world_size = 1;  // LOCAL_WORLD_SIZE
  std::string master_addr;   // MASTER_ADDR: the host of rank 0, where the store is served
  int master_port = 0;       // MASTER_PORT
  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent already serves the store, and the ranks
  // are its clients under the key prefix /worker/attempt_<TORCHELASTIC_RESTART_COUNT>.
  bool agent_store = false;
  std::string agent_prefix;
};

// Reads the variables into `*env`. Returns false when WORLD_SIZE is not set (a single process);
// sets `*error` to a one-line reason when they are set but incomplete or out of range.
bool read_launch_env(LaunchEnv* env, std::string* error);

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_LAUNCH_ENV_H_
