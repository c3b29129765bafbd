// `stage fetch`: the command line over staging::Fetch.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace staging {

// Runs `stage fetch` with the arguments after "fetch"; returns the exit status. `build_facts`
// gives the lines --version prints after the version. A bad command line throws
// common::UsageError.
int RunFetch(const std::vector<std::string>& args, const std::function<std::string()>& build_facts);

}  // namespace staging
