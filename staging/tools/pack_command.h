// `stage pack`: the command line over staging::Pack.
#pragma once

#include <string>
#include <vector>

namespace staging::tools {

// Runs `stage pack` with the arguments after "pack"; returns the exit status. A bad command
// line throws common::UsageError.
int RunPack(const std::vector<std::string>& args);

}  // namespace staging::tools
