// The built-in launcher: torchrun's job without Python. It starts this machine's share of the
// ranks of a data-parallel job as child processes with torchrun's variables set, and watches
// over them.
#ifndef CV_EXAMPLE_DISTRIBUTED_LAUNCHER_H_
#define CV_EXAMPLE_DISTRIBUTED_LAUNCHER_H_

#include <string>
#include <vector>

namespace cv_example::distributed {

struct LaunchOptions {
  int nproc_per_node = 1;                 // ranks on this machine
  int nnodes = 1;                         // machines
  int node_rank = 0;                      // this machine's place, 0 .. nnodes - 1
  std::string master_addr = "127.0.0.1";  // the machine of node 0, where rank 0 serves the store
  int master_port = 29500;
};

// Set in the environment of every rank the launcher starts, so that a rank never launches again
// (an abbreviated launcher flag that reached it, say).
inline constexpr const char* kLaunchedVariable = "CV_EXAMPLE_LAUNCHED_RANK";

// A one-line reason when the options cannot describe a job, else an empty string.
std::string validate(const LaunchOptions& options);

// Runs `argv` (argv[0] the program's path) as ranks node_rank * nproc_per_node + i, i < nproc:
// RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT set.
// - The output of every rank but 0 comes through line by line, prefixed "[rank N] ".
// - SIGINT and SIGTERM are passed on to every rank (the ranks are in a process group of their
//   own, so a terminal's Ctrl-C reaches them once); the ranks end as a stop asks of them.
// - When a rank fails (non-zero exit, or a signal), the others get SIGTERM, then SIGKILL after a
//   few seconds, and one line names the rank and how it ended.
// - The ranks get SIGTERM should the launcher itself die.
// Returns the exit status: 0 when every rank succeeded, 128 + the signal after a stop the
// launcher passed on, 1 after a failure.
int launch(const LaunchOptions& options, const std::vector<std::string>& argv);

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_LAUNCHER_H_
