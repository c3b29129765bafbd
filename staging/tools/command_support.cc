#include "command_support.h"

#include <archive.h>
#include <curl/curl.h>
#include <unistd.h>
#include <zstd.h>

#include "common/command_line.h"
#include "staging/stage.h"

namespace po = boost::program_options;

namespace staging::tools {

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

std::string BuildFacts() {
  std::string facts = std::string(archive_version_details()) + "\n" + curl_version() + "\nzstd " +
                      ZSTD_versionString() + "\nio_uring: ";
  facts += staging::UringAvailable() ? "available"
                                     : "unavailable (" + staging::UringUnavailableReason() + ")";
  return facts + "\n";
}

void AddStandardOptions(po::options_description& desc) {
  desc.add_options()("help,h", "show this help and exit")(
      "version", "show the version and the libraries it runs on, and exit");
}

std::optional<int> Parse(const std::string& name, const std::string& usage,
                         const std::vector<std::string>& args, const po::options_description& desc,
                         po::variables_map* vm, const std::vector<std::string>& hints,
                         const po::positional_options_description* positional) {
  return common::ParseCommandLine({name, usage, BuildFacts}, args, desc, vm, positional, hints);
}

uint64_t Count(const std::string& option, int64_t value, int64_t minimum) {
  if (value < minimum) {
    throw common::UsageError(option + " takes a count of at least " + std::to_string(minimum) +
                             ", not " + std::to_string(value));
  }
  return static_cast<uint64_t>(value);
}

}  // namespace staging::tools
