// `stage fetch`: the command line over staging::Fetch.
#pragma once

#include <string>
#include <vector>

namespace staging {

// Runs `stage fetch` with the arguments after "fetch"; returns the exit status. `build_facts`
// are the lines --version prints after the version. A bad command line throws
// common::UsageError.
int RunFetch(const std::vector<std::string>& args, const std::string& build_facts);

}  // namespace staging
