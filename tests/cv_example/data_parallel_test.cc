// Data-parallel cv_example end to end: real Gloo process groups on 127.0.0.1, ranks started by
// the built-in launcher or, as torchrun would, by the test with torchrun's variables set.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_output.h"
#include "safetensors.h"
#include "test_util.h"
#include "torch_compat.h"

namespace {

using cv_example_test::json_lines;
using cv_example_test::Outcome;
using cv_example_test::program;
using cv_example_test::read_text;
using cv_example_test::TempDir;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A port nothing listens on now (the kernel's pick), so parallel tests do not collide.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Starts `args` with `variables` added to the environment; output to the given files.
pid_t start_with(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& variables, const std::string& out,
                 const std::string& err) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  for (const auto& [name, value] : variables) ::setenv(name.c_str(), value.c_str(), 1);
  ::freopen(out.c_str(), "w", stdout);
  ::freopen(err.c_str(), "w", stderr);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  _exit(127);
}

// The direct children of `pid`, oldest first.
std::vector<pid_t> children_of(pid_t pid) {
  const std::string path =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
  std::istringstream in(read_text(path));
  std::vector<pid_t> children;
  for (pid_t child; in >> child;) children.push_back(child);
  return children;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Every tensor of two .safetensors files equal within `tolerance` (absolute, on values ~1).
void expect_same_weights(const std::string& a, const std::string& b, double tolerance) {
  cv_example::TensorMap first, second;
  ASSERT_EQ(cv_example::read_safetensors(a, &first), "");
  ASSERT_EQ(cv_example::read_safetensors(b, &second), "");
  ASSERT_EQ(first.size(), second.size());
  for (const auto& [name, tensor] : first) {
    ASSERT_TRUE(second.count(name)) << name;
    const double difference =
        (tensor.to(at::kDouble) - second.at(name).to(at::kDouble)).abs().max().item<double>();
    EXPECT_LE(difference, tolerance) << name;
  }
}

class DataParallelTest : public ::testing::Test {
 protected:
  void make_data(int count, const TempDir& dir) {
    const Outcome made = cv_example_test::run(
        {program("make_pets"), "--out", dir.path(), "--count", std::to_string(count)}, scratch_);
    ASSERT_EQ(made.status, 0) << made.err;
  }
  // cv_example on data_ with small, deterministic CPU settings, plus `args`.
  std::vector<std::string> command(const std::vector<std::string>& args) const {
    std::vector<std::string> all = {
        program("cv_example"), "--data_dir", data_.path(), "--cpu", "--model",      "resnet10t",
        "--threads",           "1",          "--workers",  "1",     "--image_size", "32"};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }
  // The built-in launcher with `ranks` ranks on a free port.
  std::vector<std::string> launcher(int ranks, const std::vector<std::string>& args) const {
    std::vector<std::string> all = command(args);
    all.insert(all.end(), {"--nproc_per_node", std::to_string(ranks), "--master_port",
                           std::to_string(free_port())});
    return all;
  }
  Outcome run(const std::vector<std::string>& args) { return cv_example_test::run(args, scratch_); }
  // torchrun's variables for rank `rank` of `world` on this machine.
  static std::map<std::string, std::string> torchrun_env(int rank, int world, int port) {
    return {{"RANK", std::to_string(rank)},        {"LOCAL_RANK", std::to_string(rank)},
            {"WORLD_SIZE", std::to_string(world)}, {"LOCAL_WORLD_SIZE", std::to_string(world)},
            {"MASTER_ADDR", "127.0.0.1"},          {"MASTER_PORT", std::to_string(port)}};
  }
  // Runs one command line per rank as the ranks of one job, under torchrun's variables and
  // `extra` (which wins); their outcomes.
  std::vector<Outcome> run_ranks(const std::vector<std::vector<std::string>>& commands,
                                 const std::map<std::string, std::string>& extra = {}) {
    const int port = free_port(), world = static_cast<int>(commands.size());
    std::vector<pid_t> pids;
    for (int r = 0; r < world; ++r) {
      std::map<std::string, std::string> env = torchrun_env(r, world, port);
      for (const auto& [name, value] : extra) env[name] = value;
      pids.push_back(start_with(commands[r], env, file(r, "out"), file(r, "err")));
    }
    std::vector<Outcome> outcomes;
    for (int r = 0; r < world; ++r) {
      const int status = cv_example_test::wait_for(pids[r]);
      outcomes.push_back({status, read_text(file(r, "out")), read_text(file(r, "err"))});
    }
    return outcomes;
  }
  std::string file(int rank, const std::string& kind) const {
    return scratch_.file("rank" + std::to_string(rank) + "." + kind);
  }
  TempDir scratch_, data_;
};

// accelerate's promise: 2 ranks x batch B train exactly as 1 process x batch 2B on the same
// samples. BatchNorm frozen, since its batch statistics would see B images instead of 2B. The
// ranks read the images in place from a plain tar of the directory the single process reads:
// sharding by sample order gives each rank its share of the archive as of the directory.
TEST_F(DataParallelTest, TwoRanksOfBatchBTrainAsOneProcessOfBatch2B) {
  make_data(80, data_);  // 64 training images: 4 global batches of 16 per epoch, none uneven
  const std::string tar = scratch_.file("pets.tar");
  ASSERT_EQ(run({"/usr/bin/tar", "-C", data_.path(), "-cf", tar, "."}).status, 0);
  TempDir single, pair;
  const std::vector<std::string> common = {"--epochs", "2",    "--train_all", "--freeze_bn",
                                           "--lr",     "1e-2", "--json"};
  std::vector<std::string> one = common, two = common;
  one.insert(one.end(), {"--batch_size", "16", "--output_dir", single.path()});
  two.insert(two.end(), {"--batch_size", "8", "--output_dir", pair.path()});
  const Outcome reference = run(command(one));
  ASSERT_EQ(reference.status, 0) << reference.err;
  std::vector<std::string> from_tar = launcher(2, two);
  from_tar[2] = tar;  // --data_dir's value
  const Outcome launched = run(from_tar);
  ASSERT_EQ(launched.status, 0) << launched.err;
  EXPECT_THAT(launched.err, HasSubstr("2 ranks, gloo process group, batch 8 per rank (16 in all)"));
  EXPECT_THAT(launched.err, HasSubstr(tar + ": read in place (plain tar"));
  EXPECT_THAT(launched.err, HasSubstr("shared by 2 ranks on this machine"));

  const auto expected = json_lines(reference.out), got = json_lines(launched.out);
  ASSERT_EQ(got.size(), 2u) << launched.out;
  ASSERT_EQ(expected.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(got[e]["world_size"], 2);
    ASSERT_EQ(got[e]["losses"].size(), 4u);  // 64 images / (2 ranks x 8)
    for (size_t s = 0; s < 4; ++s) {
      EXPECT_NEAR(got[e]["losses"][s].get<double>(), expected[e]["losses"][s].get<double>(), 1e-4);
    }
  }
  expect_same_weights(single.file("model.safetensors"), pair.file("model.safetensors"), 1e-4);
}

// The recipe (frozen backbone, BatchNorm in train mode) at 2 ranks learns, and its evaluation
// counts each image once although even_batches repeats some on the second rank.
TEST_F(DataParallelTest, TwoRanksLearnAndCountEveryEvalImageOnce) {
  make_data(185, data_);  // 148 training and 37 evaluation images: uneven at batch 8 x 2 ranks
  const Outcome trained =
      run(launcher(2, {"--batch_size", "8", "--epochs", "4", "--train_all", "--lr", "3e-3",
                       "--json", "--predictions_out", scratch_.file("predictions.csv")}));
  ASSERT_EQ(trained.status, 0) << trained.err;
  const auto epochs = json_lines(trained.out);
  ASSERT_EQ(epochs.size(), 4u) << trained.out;
  // 148 images: 19 batches of 8, made 20 (10 per rank) by wrapping around.
  EXPECT_EQ(epochs[0]["losses"].size(), 10u);
  EXPECT_LT(epochs.back()["train_loss"].get<double>(), epochs.front()["train_loss"].get<double>());
  EXPECT_GT(epochs.back()["accuracy_pct"].get<double>(), 15.0) << trained.out;  // chance: 2.7%

  // One row per evaluation image, none twice, and the accuracy is over exactly those 37.
  std::istringstream csv(read_text(scratch_.file("predictions.csv")));
  std::string line;
  std::getline(csv, line);
  std::set<std::string> files;
  int rows = 0, right = 0;
  while (std::getline(csv, line)) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
    ASSERT_EQ(cells.size(), 4u) << line;
    files.insert(cells[0]);
    ++rows;
    right += cells[1] == cells[2];
  }
  EXPECT_EQ(rows, 37);
  EXPECT_EQ(files.size(), 37u);
  EXPECT_NEAR(epochs.back()["accuracy_pct"].get<double>(), 100.0 * right / 37, 1e-9);
  // Only rank 0 prints the epoch lines.
  EXPECT_THAT(trained.out, ::testing::Not(HasSubstr("[rank 1] epoch")));
}

// A rank killed by SIGKILL: the launcher stops the other and says which rank died and how,
// well within --dist_timeout.
TEST_F(DataParallelTest, KilledRankEndsTheLauncherWithALineNamingIt) {
  make_data(185, data_);
  TempDir output;
  const pid_t launcher_pid = cv_example_test::start(
      launcher(2, {"--batch_size", "4", "--epochs", "50", "--dist_timeout", "20", "--output_dir",
                   output.path(), "--checkpointing_steps", "2"}),
      scratch_.file("launcher.out"), scratch_.file("launcher.err"));
  ASSERT_GT(launcher_pid, 0);
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(output.file("checkpoint-2.pt")); },
                         std::chrono::seconds(60)));
  const std::vector<pid_t> ranks = children_of(launcher_pid);
  ASSERT_EQ(ranks.size(), 2u);
  const auto killed_at = Clock::now();
  ::kill(ranks[1], SIGKILL);
  const int status = cv_example_test::wait_for(launcher_pid);
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(15));
  EXPECT_EQ(status, 1);
  const std::string err = read_text(scratch_.file("launcher.err"));
  EXPECT_THAT(err, HasSubstr("cv_example: rank 1 (pid " + std::to_string(ranks[1]) +
                             ") was killed by SIGKILL; the other ranks were stopped"));
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(ranks[0]) + "/stat"))
      << "rank 0 still runs";
}

// A rank that stalls (SIGSTOP) under torchrun's contract: the other fails within
// --dist_timeout, naming it, instead of waiting for ever.
TEST_F(DataParallelTest, StalledRankFailsTheOtherWithinTheTimeout) {
  make_data(185, data_);
  TempDir output;
  const int port = free_port();
  const std::vector<std::string> args = {
      "--batch_size",          "4", "--epochs",     "50",
      "--dist_timeout",        "3", "--output_dir", output.path(),
      "--checkpointing_steps", "2"};
  pid_t pids[2];
  for (int r = 0; r < 2; ++r) {
    pids[r] = start_with(command(args), torchrun_env(r, 2, port), file(r, "out"), file(r, "err"));
  }
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(output.file("checkpoint-2.pt")); },
                         std::chrono::seconds(60)));
  ::kill(pids[1], SIGSTOP);
  const auto stalled_at = Clock::now();
  const int status = cv_example_test::wait_for(pids[0]);
  const auto waited = Clock::now() - stalled_at;
  ::kill(pids[1], SIGKILL);
  cv_example_test::wait_for(pids[1]);
  EXPECT_EQ(status, 1);
  EXPECT_LT(waited, std::chrono::seconds(15));
  const std::string err = read_text(file(0, "err"));
  EXPECT_THAT(err, HasSubstr("cv_example: rank 0: the "));
  EXPECT_THAT(err, HasSubstr(" failed: rank 1 stopped responding"));
}

// Checkpoint, SIGKILL every process, resume: the same losses and weights as a 2-rank run that
// was never interrupted.
TEST_F(DataParallelTest, ResumeAfterKillAtTwoRanksMatchesUninterruptedRun) {
  make_data(80, data_);
  TempDir whole, killed;
  const std::vector<std::string> args = {"--batch_size", "4",     "--epochs", "3",
                                         "--train_all",  "--json"};
  std::vector<std::string> uninterrupted = args;
  uninterrupted.insert(uninterrupted.end(), {"--output_dir", whole.path()});
  const Outcome reference = run(launcher(2, uninterrupted));
  ASSERT_EQ(reference.status, 0) << reference.err;

  std::vector<std::string> interrupted = args;
  interrupted.insert(interrupted.end(), {"--output_dir", killed.path(), "--checkpointing_steps",
                                         "3", "--keep_checkpoints", "2"});
  const pid_t launcher_pid = cv_example_test::start(
      launcher(2, interrupted), scratch_.file("killed.out"), scratch_.file("killed.err"));
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(killed.file("checkpoint-6.pt")); },
                         std::chrono::seconds(60)));
  // The ranks first: killed first, the launcher would ask them to stop and save.
  for (pid_t rank : children_of(launcher_pid)) ::kill(rank, SIGKILL);
  ::kill(launcher_pid, SIGKILL);
  cv_example_test::wait_for(launcher_pid);
  ASSERT_FALSE(std::filesystem::exists(killed.file("model.safetensors"))) << "it had finished";

  const int64_t newest = cv_example_test::newest_checkpoint_step(killed.path());
  interrupted.insert(interrupted.end(), {"--resume_from_checkpoint", "latest"});
  const Outcome resumed = run(launcher(2, interrupted));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("rank 1: resumed from"));
  cv_example_test::expect_resumed_as_uninterrupted(reference.out, resumed.out, resumed.err, 3,
                                                   newest, whole.file("model.safetensors"),
                                                   killed.file("model.safetensors"));
}

// Two launchers as two machines of one rank each, and the same job under torchrun's variables
// set by the test: both train exactly as one launcher with two ranks.
TEST_F(DataParallelTest, TwoMachinesAndTorchrunVariablesMatchOneLauncher) {
  make_data(80, data_);
  const std::vector<std::string> args = {"--batch_size", "4", "--epochs", "1", "--json"};
  const Outcome reference = run(launcher(2, args));
  ASSERT_EQ(reference.status, 0) << reference.err;

  const std::string port = std::to_string(free_port());
  pid_t nodes[2];
  for (int node = 0; node < 2; ++node) {
    std::vector<std::string> machine = command(args);
    // torchrun's hyphenated spellings: the launcher takes them as its own, and passes none on.
    machine.insert(machine.end(),
                   {"--nproc-per-node", "1", "--nnodes", "2", "--node-rank", std::to_string(node),
                    "--master-addr", "127.0.0.1", "--master-port=" + port});
    nodes[node] = cv_example_test::start(machine, file(node, "out"), file(node, "err"));
  }
  ASSERT_EQ(cv_example_test::wait_for(nodes[0]), 0) << read_text(file(0, "err"));
  ASSERT_EQ(cv_example_test::wait_for(nodes[1]), 0) << read_text(file(1, "err"));
  const auto expected = json_lines(reference.out);
  const auto on_machines = json_lines(read_text(file(0, "out")));
  ASSERT_EQ(on_machines.size(), 1u);
  EXPECT_EQ(on_machines[0]["losses"], expected[0]["losses"]);
  EXPECT_EQ(on_machines[0]["accuracy_pct"], expected[0]["accuracy_pct"]);
  EXPECT_EQ(read_text(file(1, "out")), "");  // the second machine's rank prints no epoch line

  const std::vector<Outcome> ranks = run_ranks({command(args), command(args)});
  ASSERT_EQ(ranks[0].status, 0) << ranks[0].err;
  ASSERT_EQ(ranks[1].status, 0) << ranks[1].err;
  const auto under_torchrun = json_lines(ranks[0].out);
  ASSERT_EQ(under_torchrun.size(), 1u);
  EXPECT_EQ(under_torchrun[0]["losses"], expected[0]["losses"]);
  EXPECT_EQ(ranks[1].out, "");
}

TEST_F(DataParallelTest, RanksWithDifferentFlagsOrDataAreRefused) {
  make_data(40, data_);
  const std::vector<std::string> args = {"--batch_size", "4", "--epochs", "1"};
  std::vector<std::string> other_lr = args;
  other_lr.insert(other_lr.end(), {"--lr", "0.01"});
  const auto start = Clock::now();
  const std::vector<Outcome> flags = run_ranks({command(args), command(other_lr)});
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30));
  for (const Outcome& rank : flags) {
    EXPECT_EQ(rank.status, 1);
    EXPECT_THAT(rank.err,
                HasSubstr("the ranks disagree on --lr: rank 0 has 0.03, rank 1 has 0.01"));
  }

  TempDir fewer;
  make_data(39, fewer);
  std::vector<std::string> other_data = command(args);
  other_data[2] = fewer.path();  // --data_dir's value
  const std::vector<Outcome> data = run_ranks({command(args), other_data});
  for (const Outcome& rank : data) {
    EXPECT_EQ(rank.status, 1);
    EXPECT_THAT(rank.err, HasSubstr("the ranks disagree on the training images: rank 0 has 32 "
                                    "images"));
  }
}

TEST_F(DataParallelTest, PortInUseAndMissingNcclAreOneLineErrors) {
  make_data(40, data_);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  std::vector<std::string> busy = command({"--epochs", "1", "--dist_timeout", "5"});
  busy.insert(busy.end(),
              {"--nproc_per_node", "1", "--master_port", std::to_string(ntohs(address.sin_port))});
  const Outcome refused = run(busy);
  ::close(fd);
  EXPECT_NE(refused.status, 0);
  EXPECT_THAT(refused.err, HasSubstr("the port is in use"));

  // On the CPU NCCL cannot run: a CPU LibTorch has none, a CUDA one needs a GPU for it.
  const Outcome nccl = run(launcher(1, {"--epochs", "1", "--dist_backend", "nccl"}));
  EXPECT_NE(nccl.status, 0);
  const Outcome version = run({program("cv_example"), "--version"});
  EXPECT_THAT(nccl.err, HasSubstr(version.out.find("nccl: yes") != std::string::npos
                                      ? "--dist_backend nccl needs CUDA; on the CPU use gloo"
                                      : "--dist_backend nccl: this build's LibTorch has no NCCL"));
}

// Under torchrun's agent (TORCHELASTIC_USE_AGENT_STORE=True) the agent serves the store: rank 0
// must not, and every rank works under the agent's prefix for this attempt.
TEST_F(DataParallelTest, RanksJoinTorchrunsAgentStoreUnderItsPrefix) {
  make_data(40, data_);
  ::c10d::TCPStoreOptions options;
  options.port = 0;  // the kernel's pick
  options.isServer = true;
  options.waitWorkers = false;
  auto agent = cv_example::compat::make_tcp_store("127.0.0.1", options);
  const std::map<std::string, std::string> agent_env = {
      {"TORCHELASTIC_USE_AGENT_STORE", "True"},
      {"TORCHELASTIC_RESTART_COUNT", "3"},
      {"MASTER_PORT", std::to_string(agent->getPort())}};
  const std::vector<std::string> args = {"--batch_size", "4", "--epochs", "1"};
  const std::vector<Outcome> ranks = run_ranks({command(args), command(args)}, agent_env);
  ASSERT_EQ(ranks[0].status, 0) << ranks[0].err;
  ASSERT_EQ(ranks[1].status, 0) << ranks[1].err;
  EXPECT_THAT(ranks[0].out, HasSubstr("epoch 0: "));
  EXPECT_TRUE(agent->check({"/worker/attempt_3/cv_example/joined/0"}));
  EXPECT_TRUE(agent->check({"/worker/attempt_3/cv_example/joined/1"}));
}

// SIGTERM to the launcher (a reclaimed spot machine): passed on to every rank, which finish the
// same step; rank 0 saves a checkpoint for it and the launcher exits 143.
TEST_F(DataParallelTest, SigtermToTheLauncherStopsEveryRankAfterTheSameStepWithACheckpoint) {
  make_data(185, data_);
  TempDir output;
  const pid_t launcher_pid =
      cv_example_test::start(launcher(2, {"--batch_size", "4", "--epochs", "50", "--output_dir",
                                          output.path(), "--checkpointing_steps", "2"}),
                             scratch_.file("launcher.out"), scratch_.file("launcher.err"));
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(output.file("checkpoint-2.pt")); },
                         std::chrono::seconds(60)));
  const std::vector<pid_t> ranks = children_of(launcher_pid);
  ::kill(launcher_pid, SIGTERM);
  EXPECT_EQ(cv_example_test::wait_for(launcher_pid), 128 + SIGTERM);
  const std::string err = read_text(scratch_.file("launcher.err"));
  const std::smatch step = [&] {
    std::smatch match;
    std::regex_search(err, match, std::regex(R"(stopped by SIGTERM after step (\d+))"));
    return match;
  }();
  ASSERT_FALSE(step.empty()) << err;
  EXPECT_TRUE(std::filesystem::exists(output.file("checkpoint-" + step[1].str() + ".pt"))) << err;
  EXPECT_THAT(err, ::testing::Not(HasSubstr("failed")));
  for (pid_t rank : ranks) {
    EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(rank) + "/stat"));
  }
}

}  // namespace
