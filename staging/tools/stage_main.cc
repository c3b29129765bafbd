// stage: the command-line face of libstaging. Parses flags, shows progress, prints the summary.
#include <archive.h>
#include <curl/curl.h>
#include <unistd.h>
#include <zstd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "command_support.h"
#include "common/command_line.h"
#include "common/human_units.h"
#include "common/stop_signals.h"
#include "fetch_command.h"
#include "pack_command.h"
#include "progress_printer.h"
#include "staging/archive_members.h"
#include "staging/names.h"
#include "staging/pack.h"
#include "staging/stage.h"

namespace po = boost::program_options;
using staging::StageOptions;

namespace {

using common::UsageError;
using staging::tools::AddStandardOptions;
using staging::tools::BuildFacts;
using staging::tools::Count;
using staging::tools::Parse;
using staging::tools::StderrIsTerminal;

constexpr char kUsage[] = R"(Usage:
  stage --from DIR [--to DIR] [options]     extract archives, copy other files
  stage pack --from DIR|ARCHIVE --to FILE.tar.zst
  stage clean [--to DIR]                    remove everything staging put in DIR
  stage fetch URL... --to DIR [--sha256 HEX|--md5 HEX] [--pack]   download, verified, indexed

Stages a dataset from persistent storage onto local disk: every archive under --from
(tar, tar.gz, tar.zst, tar.xz, tar.bz2, recognised by content) is extracted into --to,
every other file is copied, subdirectories go to the same relative place. Archives are
untrusted: nothing is written outside --to, and an archive appears only once complete.

Examples:
  stage --from ../persistent-disk/cv_example
  stage --from /mnt/data/imagenet --to /scratch/imagenet --jobs 8 --json
  stage --from ../persistent-disk/cv_example --verify     # checks NAME.sha256 files
  stage --from ../persistent-disk/cv_example --writers 8  # file creation on 8 threads
  stage pack --from images.tar.gz --to images.tar.zst     # parallel-friendly re-pack
  stage clean
  stage fetch https://host/images.tar.gz --md5 HEX --to ../persistent-disk/cv_example
)";

int RunClean(const std::vector<std::string>& args) {
  std::string to = ".";
  bool quiet = false;
  po::options_description desc("Options");
  AddStandardOptions(desc);
  desc.add_options()("to", po::value(&to)->value_name("DIR"), "destination (default: .)")(
      "quiet,q", po::bool_switch(&quiet), "print errors only");
  po::variables_map vm;
  if (auto exit_status = Parse("stage clean",
                               "Usage: stage clean [--to DIR]\n\nRemoves every path the "
                               "manifest in DIR/.stage lists, then the manifest.\n\nExample:\n"
                               "  stage clean --to job-execution\n",
                               args, desc, &vm, {"--to"})) {
    return *exit_status;
  }
  uint64_t removed = 0;
  staging::Status status = staging::Clean(to, &removed);
  if (!status.ok()) {
    std::cerr << "stage clean: " << staging::DisplayText(status.message()) << "\n";
    return 1;
  }
  if (!quiet) {
    std::cerr << "stage clean: removed " << common::Counted(removed, "path", "paths") << " from "
              << staging::DisplayText(to) << "\n";
  }
  return 0;
}

// ArchiveReport::reads in words, for -v.
std::string ReadsText(const std::string& reads) {
  if (reads == "mapped") return "mapped from the page cache";
  if (reads == "io_uring") return "read with io_uring";
  return "read with plain calls";
}

// Warnings, per-source lines, errors and the summary line, on stderr.
void PrintReport(const staging::StageReport& report, bool verbose, bool quiet) {
  uint32_t already = 0;
  for (const auto& w : report.warnings) {
    std::cerr << "stage: warning: " << staging::DisplayText(w) << "\n";
  }
  for (const auto& a : report.archives) {
    for (const auto& w : a.warnings) {
      std::cerr << "stage: warning: " << staging::DisplayText(a.path) << ": "
                << staging::DisplayText(w) << "\n";
    }
    if (a.already_staged) {
      ++already;
      if (!quiet) std::cerr << "stage: " << staging::DisplayText(a.path) << ": already staged\n";
    } else if (verbose && a.status.ok()) {
      std::cerr << "stage: " << staging::DisplayText(a.path) << ": " << a.kind << ", "
                << common::Counted(a.files, "file", "files") << " by "
                << common::Counted(a.writer_threads, "thread", "threads") << " (" << a.ring_files
                << " through io_uring, " << a.redone_files << " redone with plain calls, "
                << a.plain_files << " plain), " << ReadsText(a.source_reads) << ", "
                << common::HumanBytes(a.bytes) << ", " << common::HumanSeconds(a.seconds);
      if (a.kind != "file") {
        std::cerr << ", tar headers: " << a.members_by_stage << " members read by stage, "
                  << a.members_by_libarchive << " by libarchive";
      }
      std::cerr << "\n";
    }
  }
  for (const std::string& failure : report.failures())
    std::cerr << "stage: error: " << staging::DisplayText(failure) << "\n";
  if (!report.error.ok()) return;  // nothing was read: no summary to give
  // The totals count what is in the destination: nothing of a failed source.
  uint64_t written = 0;
  size_t failed = 0;
  for (const auto& a : report.archives) {
    if (!a.status.ok()) ++failed;
    written += a.already_staged || !a.status.ok() ? 0 : a.bytes;
  }
  if (quiet) return;
  const size_t sources = report.archives.size();
  std::string counts = common::Counted(sources, "source", "sources");
  std::vector<std::string> parts;
  if (already > 0) parts.push_back(std::to_string(already) + " already staged");
  if (failed > 0) {
    parts.push_back(std::to_string(failed) + " failed, nothing staged from " +
                    (failed == 1 ? "it" : "them"));
  }
  for (size_t i = 0; i < parts.size(); ++i) counts += (i == 0 ? " (" : ", ") + parts[i];
  if (!parts.empty()) counts += ")";
  std::cerr << "stage: " << counts << ", " << common::Counted(report.files, "file", "files") << ", "
            << common::HumanBytes(report.bytes) << ", " << common::HumanSeconds(report.seconds)
            << ", " << common::HumanRate(report.seconds > 0 ? written / report.seconds : 0)
            << (report.ok() ? "" : ", FAILED") << "\n";
}

// The report as one JSON line for machines; names escaped as in messages.
std::string ReportJson(const staging::StageReport& report) {
  nlohmann::json archives = nlohmann::json::array();
  for (const auto& a : report.archives) {
    nlohmann::json item = {{"path", staging::DisplayText(a.path)},
                           {"kind", a.kind},
                           {"files", a.files},
                           {"bytes", a.bytes},
                           {"seconds", a.seconds},
                           {"already_staged", a.already_staged},
                           {"ok", a.status.ok()},
                           {"ring_files", a.ring_files},
                           {"redone_files", a.redone_files},
                           {"plain_files", a.plain_files},
                           {"writer_threads", a.writer_threads},
                           {"source_reads", a.source_reads},
                           {"gzip_index", a.gzip_index},
                           {"members_by_stage", a.members_by_stage},
                           {"members_by_libarchive", a.members_by_libarchive}};
    if (!a.status.ok()) item["error"] = staging::DisplayText(a.status.message());
    archives.push_back(item);
  }
  nlohmann::json warnings = nlohmann::json::array();
  for (const std::string& w : report.warnings) warnings.push_back(staging::DisplayText(w));
  nlohmann::json json{{"archives", archives},      {"warnings", warnings},
                      {"files", report.files},     {"bytes", report.bytes},
                      {"seconds", report.seconds}, {"io", report.io_backend},
                      {"ok", report.ok()}};
  if (!report.error.ok()) json["error"] = staging::DisplayText(report.error.message());
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What `stage`'s command line says beyond StageOptions' own fields, read by ApplyStageFlags.
struct StageFlags {
  bool json = false, no_wait = false, plain = false, uring_writes = false, verbose = false,
       quiet = false;
  std::string reads = "auto";
  int64_t max_bytes = static_cast<int64_t>(StageOptions().max_bytes);
  int64_t max_entries = static_cast<int64_t>(StageOptions().max_entries);
};

// `stage`'s options, into `options` and `flags`.
void AddStageOptions(po::options_description& desc, StageOptions& options, StageFlags& flags) {
  desc.add_options()("from", po::value(&options.from)->value_name("DIR"),
                     "source directory (or one file) to stage")(
      "to", po::value(&options.to)->default_value(".")->value_name("DIR"), "destination directory")(
      "jobs,j", po::value(&options.jobs)->default_value(0)->value_name("N"),
      "sources staged at once (0 = cores)")("json", po::bool_switch(&flags.json),
                                            "print the summary as one JSON object on stdout")(
      "verbose,v", po::bool_switch(&flags.verbose),
      "one line per source: its kind, files, and how they were written")(
      "quiet,q", po::bool_switch(&flags.quiet),
      "no progress and no summary on stderr; warnings and errors only")(
      "verify", po::bool_switch(&options.verify), "check each source against NAME.sha256")(
      "overwrite", po::bool_switch(&options.overwrite),
      "replace files in --to that no staging made (without it, a source that would replace one "
      "fails, naming it, and nothing of it is moved into place)")(
      "follow-symlinks", po::bool_switch(&options.follow_symlinks),
      "follow symlinks under --from that resolve inside it (by default they are skipped with "
      "a warning)")("keep-going", po::bool_switch(&options.keep_going),
                    "stage the other sources after a failure")(
      "force", po::bool_switch(&options.force), "stage again even when already staged")(
      "sync", po::bool_switch(&options.sync), "flush the destination to disk at the end (syncfs)")(
      "no-wait", po::bool_switch(&flags.no_wait), "fail at once if another stage run holds --to")(
      "plain-io", po::bool_switch(&flags.plain),
      "read with pread and write with plain system calls (by default a source already in "
      "the page cache is mapped, any other read through io_uring)")(
      "reads", po::value(&flags.reads)->default_value(flags.reads)->value_name("HOW"),
      "how sources are read: auto (io_uring, or mapped when already in the page cache), "
      "mapped, io_uring or plain (pread); --json's source_reads says which ran")(
      "uring-writes", po::bool_switch(&flags.uring_writes),
      "create files through io_uring too (by default plain calls from the writer threads: "
      "faster on local filesystems)")(
      "writers", po::value(&options.writers)->default_value(0)->value_name("N"),
      "threads creating each archive's files (0 = cores)")(
      "max-bytes", po::value(&flags.max_bytes)->default_value(flags.max_bytes)->value_name("BYTES"),
      "cap on bytes one archive may write")(
      "max-entries",
      po::value(&flags.max_entries)->default_value(flags.max_entries)->value_name("N"),
      "cap on entries in one archive, and on entries under --from");
}

// Checks the parsed command line and completes `*options` from `flags`. Throws UsageError.
void ApplyStageFlags(const StageFlags& flags, StageOptions* options) {
  if (options->from.empty()) throw UsageError("--from DIR is required");
  if (options->jobs < 0 || options->writers < 0) {
    throw UsageError("--jobs and --writers take 0 (automatic) or a positive count");
  }
  if (flags.verbose && flags.quiet) throw UsageError("--verbose and --quiet contradict each other");
  std::error_code same_ec;
  if (std::filesystem::equivalent(options->from, options->to, same_ec)) {
    throw UsageError("--to " + options->to +
                     " is --from itself: staging a folder into itself "
                     "would stage its own output");
  }
  options->max_bytes = Count("--max-bytes", flags.max_bytes, 1);
  if (!staging::ParseSourceReads(flags.reads, &options->reads)) {
    throw UsageError("--reads takes auto, mapped, io_uring or plain, not '" + flags.reads + "'");
  }
  options->max_entries = Count("--max-entries", flags.max_entries, 1);
  options->wait_for_lock = !flags.no_wait;
  if (flags.plain && flags.uring_writes) {
    throw UsageError("--plain-io and --uring-writes contradict each other");
  }
  if (flags.plain) options->io = staging::IoKind::kPlain;
  if (flags.uring_writes) options->io = staging::IoKind::kUring;
  // Said with -v only: on a machine without io_uring (an old kernel, a container's seccomp
  // policy) every run would print it; --json's "io" tells the same to tools.
  if (flags.verbose && !flags.plain && !staging::UringAvailable()) {
    std::cerr << "stage: io_uring unavailable (" << staging::UringUnavailableReason()
              << "); using plain system calls\n";
  }
}

int RunStage(const std::vector<std::string>& args) {
  StageOptions options;
  StageFlags flags;
  po::options_description desc("Options");
  AddStandardOptions(desc);
  AddStageOptions(desc, options, flags);
  po::variables_map vm;
  if (auto exit_status = Parse("stage", kUsage, args, desc, &vm, {"--from", "--to"})) {
    return *exit_status;
  }
  ApplyStageFlags(flags, &options);
  options.interrupt = &common::StopRequested();
  staging::ProgressPrinter printer("stage", StderrIsTerminal(), std::chrono::seconds(5),
                                   flags.quiet);
  staging::StageReport report =
      staging::Stage(options, [&](const staging::Progress& p) { printer.Update(p); });
  printer.Finish();
  if (report.interrupted) {
    // What was in progress left nothing visible; what was staged before stays recorded.
    for (const auto& w : report.warnings)
      std::cerr << "stage: warning: " << staging::DisplayText(w) << "\n";
    std::cerr << "stage: interrupted\n";
    return common::StopExitStatus();
  }

  PrintReport(report, flags.verbose, flags.quiet);
  if (flags.json) std::cout << ReportJson(report) << "\n";
  return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool subcommand =
      !args.empty() && (args[0] == "clean" || args[0] == "pack" || args[0] == "fetch");
  const std::string command = subcommand ? "stage " + args[0] : "stage";
  return common::RunProgram(command, [&] {
    const std::vector<std::string> rest(args.begin() + (subcommand ? 1 : 0), args.end());
    if (command == "stage clean") return RunClean(rest);
    if (command == "stage pack") return staging::tools::RunPack(rest);
    if (command == "stage fetch") return staging::RunFetch(rest, BuildFacts);
    common::InstallStopSignals();
    return RunStage(rest);
  });
}
