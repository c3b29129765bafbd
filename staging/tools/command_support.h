// What every `stage` subcommand's command line shares: the build facts --version prints, the
// standard options, parsing as every program does (common/command_line.h), counts.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace staging::tools {

bool StderrIsTerminal();

// The facts --version prints after the version line: the libraries this build runs on.
std::string BuildFacts();

// Every subcommand's --help, -h and --version.
void AddStandardOptions(boost::program_options::options_description& desc);

// Parses a subcommand's arguments as every program does (common/command_line.h); nullopt to go
// on, or the status to exit with after --help or --version. A mistake throws common::UsageError.
std::optional<int> Parse(
    const std::string& name, const std::string& usage, const std::vector<std::string>& args,
    const boost::program_options::options_description& desc,
    boost::program_options::variables_map* vm, const std::vector<std::string>& hints,
    const boost::program_options::positional_options_description* positional = nullptr);

// A count read as a signed number, so that "-1" is refused (common::UsageError) rather than
// wrapped round.
uint64_t Count(const std::string& option, int64_t value, int64_t minimum);

}  // namespace staging::tools
