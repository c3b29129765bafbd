#include "distributed/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "common/unique_fd.h"

namespace cv_example::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// How long the other ranks have to end after SIGTERM when one failed, before SIGKILL.
constexpr auto kStopGrace = std::chrono::seconds(5);

struct Rank {
  int global = 0;
  pid_t pid = -1;
  std::optional<int> status;  // waitpid's, once reaped
  // Output relayed with a prefix (ranks other than 0): the read ends and what was read of an
  // unfinished line.
  int out = -1, err = -1;
  std::string out_line, err_line;
};

// "exited with status 3", "was killed by SIGKILL".
std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  const char* name = sigabbrev_np(WTERMSIG(status));
  std::string text = "was killed by " + (name ? "SIG" + std::string(name)
                                              : "signal " + std::to_string(WTERMSIG(status)));
  return WCOREDUMP(status) ? text + " (core dumped)" : text;
}

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

class Launcher {
 public:
  Launcher(const LaunchOptions& options, const std::vector<std::string>& argv)
      : options_(options), argv_(argv) {}
  int run();

 private:
  bool start_ranks();
  void start_rank(Rank& rank, int local_rank, const sigset_t& blocked);
  [[noreturn]] void exec_rank(const Rank& rank, int local_rank, int out, int err,
                              const sigset_t& blocked);
  void on_signal();
  void reap();
  // Reads what `*fd` holds and writes its complete lines to `to` with the rank's prefix; closes
  // it at the end of the stream.
  void relay(Rank& rank, int* fd, std::string* line, int to);
  void stop_all(int signal);
  bool done() const;
  int finish() const;

  const LaunchOptions& options_;
  const std::vector<std::string>& argv_;
  std::vector<Rank> ranks_;
  common::UniqueFd signals_;
  std::optional<int> culprit_;                // the first rank that failed
  int forwarded_signal_ = 0;                  // the first stop signal passed on
  std::optional<Clock::time_point> kill_at_;  // SIGKILL for ranks still running after a failure
};

int Launcher::run() {
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int s : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&blocked, s);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  signals_ = common::UniqueFd(::signalfd(-1, &blocked, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals_.valid() || !start_ranks()) return 1;
  while (!done()) {
    std::vector<pollfd> fds = {{signals_.get(), POLLIN, 0}};
    std::vector<std::pair<Rank*, bool>> owners = {{nullptr, false}};
    for (Rank& rank : ranks_) {
      for (const auto& [fd, is_err] : {std::pair{rank.out, false}, std::pair{rank.err, true}}) {
        if (fd < 0) continue;
        fds.push_back({fd, POLLIN, 0});
        owners.push_back({&rank, is_err});
      }
    }
    int timeout_ms = -1;
    if (kill_at_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*kill_at_ - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) on_signal();
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Rank& rank = *owners[i].first;
      if (owners[i].second) {
        relay(rank, &rank.err, &rank.err_line, STDERR_FILENO);
      } else {
        relay(rank, &rank.out, &rank.out_line, STDOUT_FILENO);
      }
    }
    if (kill_at_ && Clock::now() >= *kill_at_) {
      stop_all(SIGKILL);
      kill_at_.reset();
    }
  }
  return finish();
}

bool Launcher::start_ranks() {
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int s : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&blocked, s);
  ranks_.resize(static_cast<size_t>(options_.nproc_per_node));
  for (int i = 0; i < options_.nproc_per_node; ++i) {
    Rank& rank = ranks_[static_cast<size_t>(i)];
    rank.global = options_.node_rank * options_.nproc_per_node + i;
    start_rank(rank, i, blocked);
    if (rank.pid < 0) {
      std::fprintf(stderr, "cv_example: cannot start rank %d: %s\n", rank.global,
                   std::strerror(errno));
      stop_all(SIGKILL);
      return false;
    }
  }
  return true;
}

void Launcher::start_rank(Rank& rank, int local_rank, const sigset_t& blocked) {
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  const bool relayed = rank.global != 0;
  if (relayed && (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)) return;
  rank.pid = ::fork();
  if (rank.pid == 0) exec_rank(rank, local_rank, out[1], err[1], blocked);
  if (!relayed) return;
  ::close(out[1]);
  ::close(err[1]);
  rank.out = out[0];
  rank.err = err[0];
}

void Launcher::exec_rank(const Rank& rank, int local_rank, int out, int err,
                         const sigset_t& blocked) {
  const pid_t launcher = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the ranks end with their launcher
  if (::getppid() != launcher) _exit(1);
  ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the launcher only, which passes it on once
  sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
  if (out >= 0) {
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
  }
  const int world = options_.nnodes * options_.nproc_per_node;
  const std::pair<const char*, std::string> variables[] = {
      {"RANK", std::to_string(rank.global)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"WORLD_SIZE", std::to_string(world)},
      {"LOCAL_WORLD_SIZE", std::to_string(options_.nproc_per_node)},
      {"GROUP_RANK", std::to_string(options_.node_rank)},
      {"MASTER_ADDR", options_.master_addr},
      {"MASTER_PORT", std::to_string(options_.master_port)}};
  for (const auto& [name, value] : variables) ::setenv(name, value.c_str(), 1);
  ::setenv(kLaunchedVariable, "1", 1);
  ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
  std::vector<char*> args;
  for (const std::string& arg : argv_) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "cv_example: cannot run %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

void Launcher::on_signal() {
  signalfd_siginfo info;
  while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGCHLD) {
      reap();
      continue;
    }
    if (forwarded_signal_ == 0) forwarded_signal_ = static_cast<int>(info.ssi_signo);
    stop_all(static_cast<int>(info.ssi_signo));
  }
  reap();
}

void Launcher::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    for (Rank& rank : ranks_) {
      if (rank.pid != pid) continue;
      rank.status = status;
      if (failed(status) && !culprit_ && forwarded_signal_ == 0) {
        culprit_ = rank.global;
        stop_all(SIGTERM);
        kill_at_ = Clock::now() + kStopGrace;
      }
    }
  }
}

void Launcher::relay(Rank& rank, int* fd, std::string* line, int to) {
  char buffer[4096];
  const ssize_t n = ::read(*fd, buffer, sizeof(buffer));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  const std::string prefix = "[rank " + std::to_string(rank.global) + "] ";
  if (n <= 0) {
    if (!line->empty()) write_all(to, prefix + *line + "\n");
    line->clear();
    ::close(*fd);
    *fd = -1;
    return;
  }
  line->append(buffer, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t end; (end = line->find('\n', start)) != std::string::npos; start = end + 1) {
    write_all(to, prefix + line->substr(start, end + 1 - start));
  }
  line->erase(0, start);
}

void Launcher::stop_all(int signal) {
  for (const Rank& rank : ranks_) {
    if (rank.pid > 0 && !rank.status) ::kill(rank.pid, signal);
  }
}

bool Launcher::done() const {
  for (const Rank& rank : ranks_) {
    if ((rank.pid > 0 && !rank.status) || rank.out >= 0 || rank.err >= 0) return false;
  }
  return true;
}

int Launcher::finish() const {
  for (const Rank& rank : ranks_) {
    if (!culprit_ || rank.global != *culprit_) continue;
    std::fprintf(stderr, "cv_example: rank %d (pid %d) %s; the other ranks were stopped\n",
                 rank.global, static_cast<int>(rank.pid), describe(*rank.status).c_str());
    return 1;
  }
  if (forwarded_signal_ != 0) return 128 + forwarded_signal_;
  return 0;
}

}  // namespace

std::string validate(const LaunchOptions& options) {
  if (options.nproc_per_node < 1) return "--nproc_per_node must be at least 1";
  if (options.nnodes < 1) return "--nnodes must be at least 1";
  if (options.node_rank < 0 || options.node_rank >= options.nnodes) {
    return "--node_rank must be from 0 to --nnodes - 1";
  }
  if (options.master_port < 1 || options.master_port > 65535) {
    return "--master_port must be from 1 to 65535";
  }
  if (options.master_addr.empty()) return "--master_addr must not be empty";
  return {};
}

int launch(const LaunchOptions& options, const std::vector<std::string>& argv) {
  Launcher launcher(options, argv);
  return launcher.run();
}

}  // namespace cv_example::distributed
