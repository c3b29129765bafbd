// The Pets recipe of HF accelerate's cv_example, plus what a real job needs: checkpoints,
// resume, evaluation of a given model, throughput and data-wait figures.
#ifndef CV_EXAMPLE_TRAINER_H_
#define CV_EXAMPLE_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "checkpoint.h"
#include "mixed_precision.h"

namespace cv_example {

// One run, as the command line describes it (cv_example --help explains each field).
struct TrainConfig {
  std::string data_dir;          // a directory, or an archive read in place
  uint64_t max_memory_mib = 0;   // cap on an archive's bytes in memory; 0: RAM / 4
  uint64_t max_member_mb = 256;  // cap on one member of an archive read in place
  std::string preload = "auto";  // read the archive whole first: auto, on or off
  int epochs = 3;
  int batch_size = 64;
  int image_size = 224;
  double lr = 3e-2;  // OneCycle's peak; training starts at lr / 25
  uint64_t seed = 42;
  bool cpu = false;  // CPU even when CUDA is available
  MixedPrecision mixed_precision = MixedPrecision::kNo;
  std::string model = "resnet50d";
  std::string weights;                 // a .safetensors file, or empty for random weights
  bool train_all = false;              // train every layer, not only the classifier
  std::string output_dir;              // checkpoints and the final model.safetensors
  CheckpointSchedule checkpointing;    // --checkpointing_steps
  int keep_checkpoints = 0;            // newest checkpoints kept; 0 keeps all
  std::string resume_from_checkpoint;  // a checkpoint file, or "latest" in output_dir
  bool eval_only = false;              // evaluate every image of data_dir, no training
  std::string predictions_out;         // CSV of the last evaluation's predictions
  int workers = 0;                     // decoding threads; 0: one per core
  int threads = 0;                     // intra-op threads for CPU work; 0: one per core
  bool fast_decode = false;            // the loader's reduced-size JPEG decoding
  bool json = false;                   // one JSON line per epoch on stdout, and nothing else there
  // Only what stdout says (the epoch lines or JSON), warnings, notices of resumes and stops, and
  // errors: no start-up, throughput or progress lines on stderr.
  bool quiet = false;
  // accelerate's --with_tracking: TensorBoard event files and metrics.jsonl under
  // project_dir/cv_example/ (tracking/tracker.h).
  bool with_tracking = false;
  std::string project_dir = "logs";
  bool fixed_batch = false;  // train every step on the first batch, kept on the device
  // Where each training batch goes as it is trained on, epoch<E>_step<S>.safetensors ("images"
  // uint8 NCHW, "labels" int64): the Python recipe replays them to compare per-step losses.
  std::string dump_batches;
  // BatchNorm layers normalise with their running statistics and keep them (eval mode) while
  // training: results then do not depend on how a global batch is split across ranks.
  bool freeze_bn = false;
  // Data-parallel runs (torchrun's variables set): the c10d backend ("gloo", "nccl", or empty:
  // NCCL on CUDA where this build has it, else Gloo), and how long a store operation or a
  // collective may wait for the other ranks before the run fails.
  std::string dist_backend;
  double dist_timeout_seconds = 300;
  // When set and it becomes true (a stop signal), training stops after the current step: a
  // checkpoint goes to output_dir when there is one, and run() returns kRunStopped.
  const std::atomic<bool>* stop = nullptr;
};

// run()'s status when `stop` ended the run (the program exits as the signal asks).
inline constexpr int kRunStopped = -1;

// Runs the configuration: prints "epoch N: XX.XX" (evaluation accuracy in percent) on stdout
// after each epoch and the throughput figures on stderr. Returns the process exit status, or
// kRunStopped; on failure a one-line reason has been printed on stderr. Under torchrun's
// variables (RANK, WORLD_SIZE, ...) it runs as one rank of a data-parallel job with the
// semantics of accelerate's multi-process run; rank 0 alone prints the epoch lines and writes
// checkpoints and the final model.
int run(const TrainConfig& config);

// The options' own mistakes, found before anything runs (a model no one knows, --epochs 0,
// --checkpointing_steps without --output_dir): one line, or "" when there is none. What the
// machine must have for them (fp16 needs CUDA) is checked by run().
std::string check_options(const TrainConfig& config);

}  // namespace cv_example

#endif  // CV_EXAMPLE_TRAINER_H_
