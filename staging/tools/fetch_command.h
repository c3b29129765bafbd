// `stage fetch`: the command line over staging::Fetch.
#pragma once

#include <string>
#include <vector>

namespace staging {

// Runs `stage fetch` with the arguments after "fetch"; returns the exit status.
int RunFetch(const std::vector<std::string>& args);

}  // namespace staging
