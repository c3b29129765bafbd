// cv_example: trains (or evaluates) the Pets classifier of HF accelerate's cv_example.
#include <boost/program_options.hpp>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "common/stop_signals.h"
#include "distributed/launcher.h"
#include "loader/build_info.h"
#include "tracking/tracker.h"
#include "trainer.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage = R"(Usage: cv_example --data_dir DIR [options]

Trains a ResNet on the images of DIR (Oxford-IIIT Pets layout: <label>_<n>.jpg), as HF
accelerate's cv_example does: seeded 80/20 split, only the classifier trained unless
--train_all, Adam with OneCycleLR, and after each epoch the line "epoch N: XX.XX" (eval
accuracy, %). On CUDA when available.

Examples:
  cv_example --data_dir job-execution/images
  cv_example --data_dir ../persistent-disk/cv_example/images.tar.gz      # in place, no staging
  cv_example --data_dir images --weights resnet50d.safetensors --mixed_precision bf16
  cv_example --data_dir images --output_dir ../persistent-disk/run1 --checkpointing_steps epoch \
             --keep_checkpoints 2 --resume_from_checkpoint latest
  cv_example --data_dir images --model resnet10t --image_size 64 --train_all --epochs 5 --cpu
  cv_example --data_dir images --eval_only --weights run1/model.safetensors \
             --predictions_out predictions.csv

Data-parallel (--batch_size per rank; see the README):
  cv_example --nproc_per_node 8 --data_dir images --weights resnet50d.safetensors
  cv_example --nproc-per-node 8 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 \
             --master-port 29500 --data_dir images        (and --node-rank 1 on the other)
  torchrun --nproc_per_node 8 build/bin/cv_example --data_dir images

Every option is accepted with hyphens or underscores (--data-dir, --data_dir), as torchrun's.
)";

// LibTorch's OpenMP threads spin between parallel regions by default and so take the cores the
// loader's decoding threads need: training ran 3x slower on 2 cores. libgomp reads the policy only
// when it loads, before main, so the program runs itself again with the policy set, unless the
// caller chose one. If that fails it carries on as it is.
void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "passive", /*overwrite=*/1);
  ::execv("/proc/self/exe", argv);
}

// The command line each rank gets from the built-in launcher: this one without the launcher's
// own flags (as "--flag value" or "--flag=value").
std::vector<std::string> rank_command_line(int argc, char** argv) {
  static const std::set<std::string> launcher_flags = {
      "--nproc_per_node", "--nnodes", "--node_rank", "--master_addr", "--master_port"};
  // "--master-port" as "--master_port": either spelling is the launcher's.
  const auto underscored = [](std::string flag) {
    for (size_t i = 2; i < flag.size(); ++i) flag[i] = flag[i] == '-' ? '_' : flag[i];
    return flag;
  };
  std::vector<std::string> args = {"/proc/self/exe"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      args.insert(args.end(), argv + i, argv + argc);
      break;
    }
    if (launcher_flags.count(underscored(arg))) {
      ++i;  // and its value
    } else if (!launcher_flags.count(underscored(arg.substr(0, arg.find('='))))) {
      args.push_back(arg);
    }
  }
  return args;
}

// shape: long function: the option table, one entry per option in --help's order.
// Every option of cv_example, bound to where its value goes: `c`, the two texts parsed into `c`
// once the others are known, and the built-in launcher's `launch`.
po::options_description describe_options(cv_example::TrainConfig& c, std::string& mixed_precision,
                                         std::string& checkpointing_steps,
                                         cv_example::distributed::LaunchOptions& launch) {
  po::options_description options("Options");
  auto add = options.add_options();
  add("help,h", "show this help and exit");
  add("version", "show the version and what it was built with (LibTorch, CUDA, NCCL, Gloo)");
  add("data_dir", po::value(&c.data_dir)->value_name("PATH")->required(),
      "directory of .jpg images, or an archive read in place (a plain tar or a `stage pack` "
      "archive; a .tar.gz is read once into memory): its folder holding .jpg files, or "
      "ARCHIVE/FOLDER");
  add("max_memory",
      po::value(&c.max_memory_mib)->value_name("MIB")->default_value(c.max_memory_mib),
      "MiB an archive may hold in memory on this machine, shared by its ranks (0: a quarter "
      "of RAM)");
  add("max_member_mb",
      po::value(&c.max_member_mb)->value_name("MIB")->default_value(c.max_member_mb),
      "MiB one member of an archive may have: a larger one (a forged or sparse header) is an "
      "error before anything is allocated for it");
  add("preload", po::value(&c.preload)->value_name("WHEN")->default_value(c.preload),
      "read the archive sequentially into memory first: auto (when it fits under "
      "--max_memory and is not in the page cache already), on or off");
  add("epochs", po::value(&c.epochs)->value_name("N")->default_value(c.epochs), "training epochs");
  add("batch_size", po::value(&c.batch_size)->value_name("N")->default_value(c.batch_size),
      "images per batch");
  add("image_size", po::value(&c.image_size)->value_name("PIXELS")->default_value(c.image_size),
      "side of the square model input");
  add("lr", po::value(&c.lr)->value_name("RATE")->default_value(c.lr, "3e-2"),
      "OneCycle peak learning rate");
  add("seed", po::value(&c.seed)->value_name("N")->default_value(c.seed),
      "seed of the split, crops and init");
  add("cpu", po::bool_switch(&c.cpu), "run on the CPU even when CUDA is available");
  add("mixed_precision",
      po::value(&mixed_precision)->value_name("MODE")->default_value(mixed_precision),
      "no, bf16 or fp16 (autocast; fp16 adds loss scaling and needs CUDA)");
  add("model", po::value(&c.model)->value_name("NAME")->default_value(c.model),
      "resnet50d, resnet50, resnet34, resnet26d, resnet18d, resnet18 or resnet10t");
  add("weights", po::value(&c.weights)->value_name("FILE"),
      "initial weights, .safetensors with timm names");
  add("train_all", po::bool_switch(&c.train_all), "train every layer, not only fc");
  add("output_dir", po::value(&c.output_dir)->value_name("DIR"),
      "where checkpoints and the final model.safetensors go");
  add("checkpointing_steps", po::value(&checkpointing_steps)->value_name("N|epoch"),
      "save a checkpoint every N steps, or at each epoch's end with 'epoch'");
  add("keep_checkpoints",
      po::value(&c.keep_checkpoints)->value_name("K")->default_value(c.keep_checkpoints),
      "keep only the newest K checkpoints (0: all)");
  add("resume_from_checkpoint", po::value(&c.resume_from_checkpoint)->value_name("PATH|latest"),
      "continue from a checkpoint file, or 'latest' in --output_dir (none there: start afresh)");
  add("eval_only", po::bool_switch(&c.eval_only),
      "evaluate every image of --data_dir (no split, no training); prints \"eval: XX.XX\"");
  add("predictions_out", po::value(&c.predictions_out)->value_name("FILE"),
      "CSV of the last evaluation: file,true_label,predicted_label,logit");
  add("workers", po::value(&c.workers)->value_name("N")->default_value(c.workers),
      "decoding threads (0: this machine's cores / its ranks)");
  add("threads", po::value(&c.threads)->value_name("N")->default_value(c.threads),
      "intra-op threads for CPU compute (0: this machine's cores / its ranks)");
  add("fast_decode", po::bool_switch(&c.fast_decode),
      "decode JPEGs at reduced size when the crop shrinks anyway (faster, pixels differ slightly)");
  add("json", po::bool_switch(&c.json),
      "print one JSON line per epoch on stdout, and nothing else there (the \"epoch N: XX.XX\" "
      "line goes to stderr)");
  add("quiet,q", po::bool_switch(&c.quiet),
      "no start-up, throughput or progress lines on stderr (warnings, resumes, stops and errors "
      "still are)");
  add("with_tracking", po::bool_switch(&c.with_tracking),
      "record training loss and learning rate per step, accuracy, images/s and data-wait "
      "fraction per epoch as TensorBoard event files and metrics.jsonl under "
      "PROJECT_DIR/cv_example (as accelerate's --with_tracking)");
  add("project_dir", po::value(&c.project_dir)->default_value(c.project_dir)->value_name("DIR"),
      "where --with_tracking writes");
  add("fixed_batch", po::bool_switch(&c.fixed_batch),
      "train every step on the first batch, kept on the device: the speed of the step alone, "
      "the ceiling for the loader (accuracy meaningless)");
  add("dump_batches", po::value(&c.dump_batches)->value_name("DIR"),
      "write each training batch to DIR/epoch<E>_step<S>.safetensors (for the Python recipe's "
      "--batches_from, which replays them to compare per-step losses)");
  add("freeze_bn", po::bool_switch(&c.freeze_bn),
      "BatchNorm uses and keeps its running statistics while training (eval mode)");
  add("dist_backend", po::value(&c.dist_backend)->value_name("NAME"),
      "data-parallel runs: gloo or nccl (default: nccl on CUDA where built in, else gloo)");
  add("dist_timeout", po::value(&c.dist_timeout_seconds)->value_name("S")->default_value(300),
      "seconds a rank waits for the others (store, collectives) before the run fails");
  add("nproc_per_node", po::value(&launch.nproc_per_node)->value_name("N"),
      "start N ranks on this machine (the built-in launcher; torchrun's variables otherwise)");
  add("nnodes", po::value(&launch.nnodes)->value_name("N")->default_value(launch.nnodes),
      "machines in the job");
  add("node_rank", po::value(&launch.node_rank)->value_name("N")->default_value(launch.node_rank),
      "this machine's place among them, from 0");
  add("master_addr",
      po::value(&launch.master_addr)->value_name("HOST")->default_value(launch.master_addr),
      "address of machine 0, where rank 0 serves the store");
  add("master_port",
      po::value(&launch.master_port)->value_name("PORT")->default_value(launch.master_port),
      "port of rank 0's store");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
  cv_example::TrainConfig c;
  std::string mixed_precision = "no", checkpointing_steps;  // parsed into `c` after the rest
  cv_example::distributed::LaunchOptions launch;
  launch.nproc_per_node = 0;  // no launcher unless asked
  const po::options_description options =
      describe_options(c, mixed_precision, checkpointing_steps, launch);
  return common::RunProgram("cv_example", [&] {
    po::variables_map vm;
    const common::Program program{
        "cv_example", kUsage, [] {
          return loader::BuildInfoLine() + ", tracking: " +
                 (cv_example::tracking::available() ? "yes (TensorBoard, metrics.jsonl)" : "no");
        }};
    if (auto exit_status = common::ParseCommandLine(
            program, std::vector<std::string>(argv + 1, argv + argc), options, &vm)) {
      return *exit_status;
    }
    if (!(c.dist_timeout_seconds > 0)) throw common::UsageError("--dist_timeout must be positive");
    if (c.max_member_mb == 0 || c.max_member_mb > (uint64_t{1} << 40)) {
      throw common::UsageError("--max_member_mb must be a positive count of MiB");
    }
    for (const std::string& error :
         {cv_example::parse_mixed_precision(mixed_precision, &c.mixed_precision),
          cv_example::parse_checkpoint_schedule(checkpointing_steps, &c.checkpointing),
          cv_example::check_options(c)}) {
      if (!error.empty()) throw common::UsageError(error);
    }
    if (launch.nproc_per_node > 0) {
      if (std::getenv(cv_example::distributed::kLaunchedVariable) != nullptr) {
        throw common::UsageError("a rank started by the launcher cannot launch ranks itself");
      }
      if (std::string error = cv_example::distributed::validate(launch); !error.empty()) {
        throw common::UsageError(error);
      }
      return cv_example::distributed::launch(launch, rank_command_line(argc, argv));
    }
    // A stop signal finishes the step at hand and saves a checkpoint to --output_dir.
    common::InstallStopSignals();
    c.stop = &common::StopRequested();
    const int status = cv_example::run(c);
    return status == cv_example::kRunStopped ? common::StopExitStatus() : status;
  });
}
