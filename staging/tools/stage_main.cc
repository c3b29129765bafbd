// stage: the command-line face of libstaging. Parses flags, shows progress, prints the summary.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "common/stop_signals.h"
#include "fetch_command.h"
#include "progress_printer.h"
#include "staging/archive_members.h"
#include "staging/names.h"
#include "staging/pack.h"
#include "staging/stage.h"

namespace po = boost::program_options;
using staging::StageOptions;

namespace {

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

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

// A usage mistake: one line on stderr, exit status 2 (runtime failures exit 1).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses `args` against `desc`; an argument no option takes is a usage error naming it, with the
// first of `hints` not given as the option it was probably meant for (`stage clean dst`: --to).
po::variables_map Parse(const std::vector<std::string>& args, const po::options_description& desc,
                        const std::vector<std::string>& hints) {
  po::parsed_options parsed = po::command_line_parser(args).options(desc).run();
  po::variables_map vm;
  po::store(parsed, vm);
  const std::vector<std::string> stray =
      po::collect_unrecognized(parsed.options, po::include_positional);
  if (!stray.empty()) {
    std::string message = "unexpected argument '" + stray.front() + "'";
    for (const std::string& option : hints) {
      if (vm.count(option.substr(2)) == 0 || vm[option.substr(2)].defaulted()) {
        message += " (did you mean " + option + " " + stray.front() + "?)";
        break;
      }
    }
    throw UsageError(message);
  }
  return vm;
}

// A count read as a signed number, so that "-1" is refused rather than wrapped round.
uint64_t Count(const std::string& option, int64_t value, int64_t minimum) {
  if (value < minimum) {
    throw UsageError(option + " takes a count of at least " + std::to_string(minimum) + ", not " +
                     std::to_string(value));
  }
  return static_cast<uint64_t>(value);
}

int RunClean(const std::vector<std::string>& args) {
  std::string to = ".";
  po::options_description desc("stage clean options");
  desc.add_options()("help,h", "show this help")("to", po::value(&to), "destination (default: .)");
  po::variables_map vm = Parse(args, desc, {"--to"});
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << "Usage: stage clean [--to DIR]\n\nRemoves every path the manifest in DIR/.stage "
                 "lists, then the manifest.\n\nExample:\n  stage clean --to job-execution\n\n"
              << desc;
    return 0;
  }
  uint64_t removed = 0;
  staging::Status status = staging::Clean(to, &removed);
  if (!status.ok()) {
    std::cerr << "stage clean: " << staging::DisplayText(status.message()) << "\n";
    return 1;
  }
  std::cerr << "stage clean: removed " << removed << " paths from " << staging::DisplayText(to)
            << "\n";
  return 0;
}

int RunPack(const std::vector<std::string>& args) {
  staging::PackOptions options;
  bool json = false;
  auto frame_bytes = static_cast<int64_t>(options.frame_bytes);
  po::options_description desc("stage pack options");
  desc.add_options()("help,h", "show this help")("from", po::value(&options.from)->required(),
                                                 "a directory, or an archive to re-pack")(
      "to", po::value(&options.to)->required(), "the .tar.zst to write")(
      "level", po::value(&options.level)->default_value(options.level), "zstd level")(
      "frame-size", po::value(&frame_bytes)->default_value(frame_bytes),
      "target bytes of tar per independent frame")(
      "threads", po::value(&options.threads)->default_value(0), "compression threads (0 = cores)")(
      "random-access", po::bool_switch(&options.random_access),
      "one frame per member, so that training reads a member in place for the cost of its own "
      "bytes: for JPEGs and other already compressed members, which zstd keeps almost as they "
      "are at any level")("json", po::bool_switch(&json), "print the summary as JSON on stdout");
  po::variables_map vm = Parse(args, desc, {"--from", "--to"});
  if (vm.count("help")) {
    std::cout
        << "Usage: stage pack --from DIR|ARCHIVE --to FILE.tar.zst\n\n"
           "Writes a tar cut into independent zstd frames with a seek table (zstd's seekable\n"
           "format), so stage decodes it on every core while zstd -d and tar read it as usual.\n\n"
           "Examples:\n  stage pack --from images.tar.gz --to images.tar.zst\n"
           "  stage pack --from ./images --to images.tar.zst --level 3\n"
           "  stage pack --from images.tar.gz --to images.tar.zst --random-access\n\n"
        << desc;
    return 0;
  }
  po::notify(vm);
  if (options.level < 1 || options.level > 22) {
    throw UsageError("--level takes zstd's levels, 1 to 22, not " + std::to_string(options.level));
  }
  options.frame_bytes = Count("--frame-size", frame_bytes, 4096);
  Count("--threads", options.threads, 0);
  common::InstallStopSignals();
  options.interrupt = &common::StopRequested();
  staging::ProgressPrinter printer("pack", StderrIsTerminal());
  staging::PackReport report =
      staging::Pack(options, [&](const staging::Progress& p) { printer.Update(p); });
  printer.Finish();
  if (common::StopRequested()) {  // nothing was written under --to's name
    std::cerr << "stage pack: interrupted\n";
    return common::StopExitStatus();
  }
  if (!report.status.ok()) {
    std::cerr << "stage pack: " << staging::DisplayText(report.status.message()) << "\n";
    return 1;
  }
  // A frame per member is for reading in place: the member index goes beside it now, from the
  // page cache, so that the first training job finds it. Its failure leaves a valid archive.
  bool indexed = false;
  if (options.random_access) {
    staging::Status status = staging::IndexArchiveMembers(options.to, "", &indexed);
    if (!status.ok()) {
      std::cerr << "stage pack: warning: no member index: "
                << staging::DisplayText(status.message()) << "\n";
    }
  }
  if (json) {
    std::cout << nlohmann::json{{"path", staging::DisplayText(options.to)},
                                {"member_indexed", indexed},
                                {"files", report.files},
                                {"bytes", report.bytes},
                                {"frames", report.frames},
                                {"compressed_bytes", report.compressed_bytes},
                                {"seconds", report.seconds}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  std::cerr << "stage pack: " << report.files << " files, " << report.bytes << " bytes -> "
            << report.compressed_bytes << " bytes in " << report.frames << " frames, "
            << report.seconds << " s" << (indexed ? ", member index written" : "") << "\n";
  return 0;
}

// ArchiveReport::reads in words, for -v.
std::string ReadsText(const std::string& reads) {
  if (reads == "mapped") return "mapped from the page cache";
  if (reads == "io_uring") return "read with io_uring";
  return "read with plain calls";
}

// Warnings, per-source lines, errors and the summary line, on stderr.
void PrintReport(const staging::StageReport& report, bool verbose) {
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
      std::cerr << "stage: " << staging::DisplayText(a.path) << ": already staged\n";
    } else if (verbose && a.status.ok()) {
      std::cerr << "stage: " << staging::DisplayText(a.path) << ": " << a.kind << ", " << a.files
                << " files by " << a.writer_threads << " threads (" << a.ring_files
                << " through io_uring, " << a.redone_files << " redone with plain calls, "
                << a.plain_files << " plain), " << ReadsText(a.source_reads) << ", " << a.bytes
                << " bytes, " << a.seconds << " s";
      if (a.kind != "file") {
        std::cerr << ", tar headers: " << a.members_by_stage << " members read by stage, "
                  << a.members_by_libarchive << " by libarchive";
      }
      std::cerr << "\n";
    }
  }
  for (const std::string& failure : report.failures())
    std::cerr << "stage: error: " << staging::DisplayText(failure) << "\n";
  // The totals count what is in the destination: nothing of a failed source.
  uint64_t written = 0;
  size_t failed = 0;
  for (const auto& a : report.archives) {
    if (!a.status.ok()) ++failed;
    written += a.already_staged || !a.status.ok() ? 0 : a.bytes;
  }
  const double mbps = report.seconds > 0 ? written / report.seconds / 1e6 : 0;
  const size_t sources = report.archives.size();
  std::string counts = std::to_string(sources) + (sources == 1 ? " source" : " sources");
  std::vector<std::string> parts;
  if (already > 0) parts.push_back(std::to_string(already) + " already staged");
  if (failed > 0) {
    parts.push_back(std::to_string(failed) + " failed, nothing staged from " +
                    (failed == 1 ? "it" : "them"));
  }
  for (size_t i = 0; i < parts.size(); ++i) counts += (i == 0 ? " (" : ", ") + parts[i];
  if (!parts.empty()) counts += ")";
  std::fprintf(stderr, "stage: %s, %llu %s, %llu bytes, %.2f s, %.0f MB/s%s\n", counts.c_str(),
               static_cast<unsigned long long>(report.files), report.files == 1 ? "file" : "files",
               static_cast<unsigned long long>(report.bytes), report.seconds, mbps,
               report.ok() ? "" : ", FAILED");
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
  return nlohmann::json{{"archives", archives},      {"warnings", warnings},
                        {"files", report.files},     {"bytes", report.bytes},
                        {"seconds", report.seconds}, {"io", report.io_backend},
                        {"ok", report.ok()}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int RunStage(const std::vector<std::string>& args) {
  StageOptions options;
  bool json = false, no_wait = false, plain = false, uring_writes = false, verbose = false;
  std::string reads = "auto";
  auto max_bytes = static_cast<int64_t>(options.max_bytes);
  auto max_entries = static_cast<int64_t>(options.max_entries);
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("from", po::value(&options.from),
                                                 "source directory (or one file) to stage")(
      "to", po::value(&options.to)->default_value("."), "destination directory")(
      "jobs,j", po::value(&options.jobs)->default_value(0), "sources staged at once (0 = cores)")(
      "json", po::bool_switch(&json), "print the summary as one JSON object on stdout")(
      "verbose,v", po::bool_switch(&verbose),
      "one line per source: its kind, files, and how they were written")(
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
      "no-wait", po::bool_switch(&no_wait), "fail at once if another stage run holds --to")(
      "plain-io", po::bool_switch(&plain),
      "read with pread and write with plain system calls (by default a source already in "
      "the page cache is mapped, any other read through io_uring)")(
      "reads", po::value(&reads)->default_value(reads)->value_name("HOW"),
      "how sources are read: auto (io_uring, or mapped when already in the page cache), "
      "mapped, io_uring or plain (pread); --json's source_reads says which ran")(
      "uring-writes", po::bool_switch(&uring_writes),
      "create files through io_uring too (by default plain calls from the writer threads: "
      "faster on local filesystems)")("writers", po::value(&options.writers)->default_value(0),
                                      "threads creating each archive's files (0 = cores)")(
      "max-bytes", po::value(&max_bytes)->default_value(max_bytes),
      "cap on bytes one archive may write")(
      "max-entries", po::value(&max_entries)->default_value(max_entries),
      "cap on entries in one archive, and on entries under --from");
  po::variables_map vm = Parse(args, desc, {"--from", "--to"});
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return 0;
  }
  if (options.from.empty()) {
    std::cerr << "stage: --from DIR is required (see stage --help)\n";
    return 2;
  }
  if (options.jobs < 0 || options.writers < 0) {
    std::cerr << "stage: --jobs and --writers take 0 (automatic) or a positive count\n";
    return 2;
  }
  options.max_bytes = Count("--max-bytes", max_bytes, 1);
  if (!staging::ParseSourceReads(reads, &options.reads)) {
    throw UsageError("--reads takes auto, mapped, io_uring or plain, not '" + reads + "'");
  }
  options.max_entries = Count("--max-entries", max_entries, 1);
  options.wait_for_lock = !no_wait;
  if (plain && uring_writes) {
    std::cerr << "stage: --plain-io and --uring-writes contradict each other\n";
    return 2;
  }
  if (plain) options.io = staging::IoKind::kPlain;
  if (uring_writes) options.io = staging::IoKind::kUring;
  // Said with -v only: on a machine without io_uring (an old kernel, a container's seccomp
  // policy) every run would print it; --json's "io" tells the same to tools.
  if (verbose && !plain && !staging::UringAvailable()) {
    std::cerr << "stage: io_uring unavailable (" << staging::UringUnavailableReason()
              << "); using plain system calls\n";
  }
  options.interrupt = &common::StopRequested();
  staging::ProgressPrinter printer("stage", StderrIsTerminal());
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

  PrintReport(report, verbose);
  if (json) std::cout << ReportJson(report) << "\n";
  return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool subcommand =
      !args.empty() && (args[0] == "clean" || args[0] == "pack" || args[0] == "fetch");
  const std::string command = subcommand ? "stage " + args[0] : "stage";
  try {
    if (!args.empty() && args[0] == "clean") return RunClean({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "pack") return RunPack({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "fetch") {
      return staging::RunFetch({args.begin() + 1, args.end()});
    }
    common::InstallStopSignals();
    return RunStage(args);
  } catch (const po::error& e) {
    std::cerr << command << ": " << staging::DisplayText(e.what()) << " (see " << command
              << " --help)\n";
    return 2;
  } catch (const UsageError& e) {
    std::cerr << command << ": " << staging::DisplayText(e.what()) << " (see " << command
              << " --help)\n";
    return 2;
  } catch (const std::exception& e) {  // out of memory, or a library's unforeseen error
    std::cerr << "stage: error: " << staging::DisplayText(e.what()) << "\n";
    return 1;
  }
}
