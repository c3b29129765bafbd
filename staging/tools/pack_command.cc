#include "pack_command.h"

#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command_support.h"
#include "common/command_line.h"
#include "common/human_units.h"
#include "common/stop_signals.h"
#include "progress_printer.h"
#include "staging/archive_members.h"
#include "staging/names.h"
#include "staging/pack.h"

namespace po = boost::program_options;

namespace staging::tools {
namespace {

using common::UsageError;

constexpr char kPackUsage[] =
    "Usage: stage pack --from DIR|ARCHIVE --to FILE.tar.zst [options]\n\n"
    "Writes a tar cut into independent zstd frames with a seek table (zstd's seekable\n"
    "format), so stage decodes it on every core while zstd -d and tar read it as usual.\n\n"
    "Examples:\n  stage pack --from images.tar.gz --to images.tar.zst\n"
    "  stage pack --from ./images --to images.tar.zst --level 3\n"
    "  stage pack --from images.tar.gz --to images.tar.zst --random-access\n";

// `stage pack`'s summary: JSON on stdout with --json, a line on stderr unless --quiet.
void PrintPackReport(const staging::PackReport& report, const std::string& to, bool indexed,
                     bool json, bool quiet) {
  if (json) {
    std::cout << nlohmann::json{{"path", staging::DisplayText(to)},
                                {"member_indexed", indexed},
                                {"files", report.files},
                                {"bytes", report.bytes},
                                {"frames", report.frames},
                                {"compressed_bytes", report.compressed_bytes},
                                {"seconds", report.seconds}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  if (!quiet) {
    std::cerr << "stage pack: " << common::Counted(report.files, "file", "files") << ", "
              << common::HumanBytes(report.bytes) << " -> "
              << common::HumanBytes(report.compressed_bytes) << " in "
              << common::Counted(report.frames, "frame", "frames") << ", "
              << common::HumanSeconds(report.seconds) << (indexed ? ", member index written" : "")
              << "\n";
  }
}

}  // namespace

int RunPack(const std::vector<std::string>& args) {
  staging::PackOptions options;
  bool json = false, quiet = false;
  auto frame_bytes = static_cast<int64_t>(options.frame_bytes);
  po::options_description desc("Options");
  AddStandardOptions(desc);
  desc.add_options()("from", po::value(&options.from)->required()->value_name("PATH"),
                     "a directory, or an archive to re-pack")(
      "to", po::value(&options.to)->required()->value_name("FILE"), "the .tar.zst to write")(
      "level", po::value(&options.level)->default_value(options.level)->value_name("N"),
      "zstd level, 1 to 22")(
      "frame-size", po::value(&frame_bytes)->default_value(frame_bytes)->value_name("BYTES"),
      "target bytes of tar per independent frame (at least 4096)")(
      "threads", po::value(&options.threads)->default_value(0)->value_name("N"),
      "compression threads (0 = cores)")(
      "random-access", po::bool_switch(&options.random_access),
      "one frame per member, so that training reads a member in place for the cost of its own "
      "bytes: for JPEGs and other already compressed members, which zstd keeps almost as they "
      "are at any level")("json", po::bool_switch(&json), "print the summary as JSON on stdout")(
      "quiet,q", po::bool_switch(&quiet), "no progress and no summary on stderr; errors only");
  po::variables_map vm;
  if (auto exit_status = Parse("stage pack", kPackUsage, args, desc, &vm, {"--from", "--to"})) {
    return *exit_status;
  }
  if (options.level < 1 || options.level > 22) {
    throw UsageError("--level takes zstd's levels, 1 to 22, not " + std::to_string(options.level));
  }
  options.frame_bytes = Count("--frame-size", frame_bytes, 4096);
  Count("--threads", options.threads, 0);
  common::InstallStopSignals();
  options.interrupt = &common::StopRequested();
  staging::ProgressPrinter printer("pack", StderrIsTerminal(), std::chrono::seconds(5), quiet);
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
  PrintPackReport(report, options.to, indexed, json, quiet);
  return 0;
}

}  // namespace staging::tools
