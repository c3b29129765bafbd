// The command-line conventions every program of the project follows, as users of GNU tools,
// curl and torchrun expect them:
//  - `-h` / `--help` prints the usage text, the options (`--to DIR`, not `--to arg`) and the exit
//    statuses, and exits 0; `--version` prints the version and the build facts, and exits 0.
//  - An option may be spelt with hyphens or underscores (`--nproc-per-node`, `--nproc_per_node`).
//  - A repeated option takes its last value, except options that collect one value per use
//    (declared `composing()`, as `stage fetch --sha256`).
//  - A usage mistake is one line on stderr naming it and exit status 2; a runtime failure is 1.
#ifndef COMMON_COMMAND_LINE_H_
#define COMMON_COMMAND_LINE_H_

#include <boost/program_options.hpp>
#include <functional>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace common {

inline constexpr int kExitFailure = 1;  // the work failed
inline constexpr int kExitUsage = 2;    // the command line is wrong: nothing was done

// A usage mistake found after parsing (a value out of range, options that contradict).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Program {
  std::string name;   // as messages start: "stage fetch"
  std::string usage;  // synopsis, description and examples, printed before the options
  // Printed by --version after the version line: what the build has ("libtorch: 2.11.0, ...").
  // Called only for --version: probing libraries and devices is no work for every start.
  std::function<std::string()> build_facts;
};

// "stage 0.1.0 (git v0.1.0-12-gabcdef1)": the project's version from CMake and the checkout's
// git description when it was built ("unknown" outside a checkout).
std::string VersionLine(const std::string& name);

// The help text: the usage, the options and the exit statuses.
void PrintHelp(std::ostream& out, const Program& program,
               const boost::program_options::options_description& options);

// Parses `args` (argv without argv[0]) into `vm` and notifies the bound variables. `options`
// should declare "help,h" and "version"; after printing either, returns 0 for the caller to exit
// with; otherwise nullopt. Throws UsageError for a bad command line: an unknown option, a
// missing or malformed value, a missing required option, or an argument no option takes (named,
// with a hint: the first of `hints`, e.g. "--to", not given on the command line: "did you mean
// --to dst?").
std::optional<int> ParseCommandLine(
    const Program& program, const std::vector<std::string>& args,
    const boost::program_options::options_description& options,
    boost::program_options::variables_map* vm,
    const boost::program_options::positional_options_description* positional = nullptr,
    const std::vector<std::string>& hints = {});

// Runs `body`, turning what escapes it into one line on stderr and an exit status: UsageError
// (or a boost::program_options error) "NAME: WHAT (see NAME --help)" and 2; any other
// std::exception "NAME: error: WHAT" and 1.
int RunProgram(const std::string& name, const std::function<int()>& body);

}  // namespace common

#endif  // COMMON_COMMAND_LINE_H_
