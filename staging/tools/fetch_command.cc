#include "fetch_command.h"

#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/command_line.h"
#include "common/human_units.h"
#include "common/stop_signals.h"
#include "progress_printer.h"
#include "staging/fetch.h"
#include "staging/names.h"

namespace staging {
namespace {

namespace po = boost::program_options;

constexpr char kUsage[] =
    R"(Usage: stage fetch URL... --to DIR [--sha256 HEX|--md5 HEX] [--pack] [options]

Puts files on persistent disk, verified: each URL (http://, https://, file:// or a path) is
stored as DIR/NAME, NAME being the last component of its path, and appears under that name only
complete, checked against --sha256/--md5 and synced to disk. NAME.sha256 goes beside it (for
stage --verify); a .tar.gz also gets its gzip index, built while the bytes arrive, so even the
first staging inflates on every core, and a plain tar its member index, so even the first job
reading it in place (cv_example --data_dir NAME) starts at once. An interrupted download is resumed by the next run; a
re-run whose file is there and verified does nothing. TLS certificates are always verified; a
URL's user info and query string are never shown.

Examples:
  stage fetch https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz \
      --md5 5c4f3ee8e5d25df40f4fd59a7f44e54c --to ../persistent-disk/cv_example
  stage fetch /mnt/bucket/imagenet/train.tar.gz --to ../persistent-disk/imagenet --pack
  stage fetch https://host/faces.tar.gz --to ../persistent-disk/faces --pack --random-access
  stage fetch https://host/a.tar https://host/b.tar --sha256 HEX_A --sha256 HEX_B --to data
)";

struct CommandLine {
  FetchOptions options;
  bool json = false;
  bool quiet = false;
  double progress_every = 5;
};

// The per-file line on stderr.
void PrintFile(const FetchedFile& f, bool quiet) {
  for (const std::string& w : f.warnings) {
    std::cerr << "stage fetch: warning: " << DisplayText(f.path) << ": " << DisplayText(w) << "\n";
  }
  if (!f.status.ok() || quiet) return;
  if (f.already) {
    std::cerr << "stage fetch: " << DisplayText(f.path) << ": already fetched and verified\n";
    return;
  }
  std::cerr << "stage fetch: " << DisplayText(f.url) << " -> " << DisplayText(f.path) << ": "
            << f.kind << ", " << common::HumanBytes(f.bytes) << ", "
            << common::HumanSeconds(f.seconds) << ", "
            << common::HumanRate(f.seconds > 0 ? f.bytes / f.seconds : 0)
            << (f.resumed_from ? ", resumed from byte " + std::to_string(f.resumed_from) : "")
            << (f.indexed ? ", gzip index written" : "")
            << (f.member_indexed ? ", member index written" : "") << (f.packed ? ", packed" : "")
            << "\n";
}

nlohmann::json FileJson(const FetchedFile& f) {
  nlohmann::json j = {{"url", DisplayText(f.url)},
                      {"path", DisplayText(f.path)},
                      {"kind", f.kind},
                      {"bytes", f.bytes},
                      {"seconds", f.seconds},
                      {"already", f.already},
                      {"resumed_from", f.resumed_from},
                      {"reread_bytes", f.reread_bytes},
                      {"attempts", f.attempts},
                      {"indexed", f.indexed},
                      {"member_indexed", f.member_indexed},
                      {"packed", f.packed},
                      {"sha256", f.sha256},
                      {"ok", f.status.ok()}};
  if (!f.md5.empty()) j["md5"] = f.md5;
  if (!f.warnings.empty()) j["warnings"] = f.warnings;
  if (!f.status.ok()) j["error"] = DisplayText(f.status.message());
  return j;
}

void PrintSummary(const FetchReport& report, bool json, bool quiet) {
  uint64_t bytes = 0, fetched = 0;
  size_t already = 0;
  nlohmann::json files = nlohmann::json::array();
  for (const FetchedFile& f : report.files) {
    PrintFile(f, quiet);
    if (!f.status.ok()) {
      std::cerr << "stage fetch: error: " << DisplayText(f.status.message()) << "\n";
    }
    bytes += f.bytes;
    already += f.already;
    if (!f.already) fetched += f.bytes;
    files.push_back(FileJson(f));
  }
  if (!quiet) {
    std::cerr << "stage fetch: " << common::Counted(report.files.size(), "file", "files") << " ("
              << already << " already there), " << common::HumanBytes(bytes) << ", "
              << common::HumanSeconds(report.seconds) << ", "
              << common::HumanRate(report.seconds > 0 ? fetched / report.seconds : 0)
              << (report.ok() ? "" : ", FAILED") << "\n";
  }
  if (json) {
    std::cout << nlohmann::json{{"files", files},
                                {"bytes", bytes},
                                {"seconds", report.seconds},
                                {"ok", report.ok()}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
}

po::options_description Options(CommandLine& c) {
  po::options_description desc("Options");
  FetchOptions& o = c.options;
  desc.add_options()("help,h", "show this help and exit")(
      "version", "show the version and the libraries it runs on, and exit")(
      "to", po::value(&o.to)->required()->value_name("DIR"), "directory to store the files in")(
      "sha256", po::value(&o.sha256)->composing()->value_name("HEX"),
      "expected SHA-256 (once per URL, in order)")(
      "md5", po::value(&o.md5)->composing()->value_name("HEX"),
      "expected MD5 (once per URL, in order)")(
      "pack", po::bool_switch(&o.pack),
      "store archives re-packed by stage pack (NAME's stem + .tar.zst) instead")(
      "random-access", po::bool_switch(&o.random_access),
      "with --pack: a frame per member, so that training reads the archive in place")(
      "retry", po::value(&o.retries)->default_value(o.retries)->value_name("N"),
      "retries of a transient failure (5xx, 408, 429, a dropped or timed-out connection) in a "
      "row, as curl's --retry")(
      "retry-delay", po::value(&o.retry_delay)->default_value(o.retry_delay)->value_name("S"),
      "seconds before the first retry, doubled each time (at most 60; a server's Retry-After "
      "wins)")("retry-max-time", po::value(&o.retry_max_time)->value_name("S"),
               "no retry after S seconds from the first try (default: no limit)")(
      "retry-connrefused", po::bool_switch(&o.retry_connrefused),
      "retry a refused connection too (by default it fails at once, as an unknown host does)")(
      "stall-timeout", po::value(&o.stall_seconds)->default_value(o.stall_seconds)->value_name("S"),
      "seconds without a byte before a connection is retried")(
      "ca-file", po::value(&o.ca_file)->value_name("PEM"),
      "extra CA certificates (PEM) for a private server")(
      "json", po::bool_switch(&c.json), "print the summary as one JSON object on stdout")(
      "quiet,q", po::bool_switch(&c.quiet), "no progress and no summary on stderr; errors only")(
      "progress-every",
      po::value(&c.progress_every)->default_value(c.progress_every)->value_name("S"),
      "seconds between progress lines when stderr is not a terminal")(
      "url", po::value(&o.urls)->composing()->value_name("URL"),
      "URL or path to fetch (also given without --url)");
  return desc;
}

}  // namespace

int RunFetch(const std::vector<std::string>& args,
             const std::function<std::string()>& build_facts) {
  CommandLine c;
  po::options_description desc = Options(c);
  po::positional_options_description positional;
  positional.add("url", -1);
  po::variables_map vm;
  if (auto exit_status = common::ParseCommandLine({"stage fetch", kUsage, build_facts}, args, desc,
                                                  &vm, &positional)) {
    return *exit_status;
  }
  if (Status status = CheckFetchOptions(c.options); !status.ok()) {
    const std::string& message = status.message();
    // "fetch: --retry must not be negative": the program's name is already in front of it.
    throw common::UsageError(message.rfind("fetch: ", 0) == 0 ? message.substr(7) : message);
  }
  signal(SIGPIPE, SIG_IGN);  // a failed pack closes its pipe: a write error, not a death
  common::InstallStopSignals();
  c.options.interrupt = &common::StopRequested();
  ProgressPrinter printer("fetch", isatty(STDERR_FILENO) == 1,
                          std::chrono::milliseconds(static_cast<int64_t>(c.progress_every * 1000)),
                          c.quiet);
  c.options.on_notice = [&](const std::string& line) {
    printer.Finish();
    std::cerr << "stage fetch: " << DisplayText(line) << "\n";
  };
  FetchReport report = Fetch(c.options, [&](const Progress& p) { printer.Update(p); });
  printer.Finish();
  if (report.interrupted) {
    std::cerr << "stage fetch: interrupted; the partial download is kept and the next run "
                 "resumes it\n";
    return common::StopExitStatus();
  }
  PrintSummary(report, c.json, c.quiet);
  return report.ok() ? 0 : 1;
}

}  // namespace staging
