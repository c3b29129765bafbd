// The command-line parse the example programs share: --help prints the options, a bad command
// line is one line on stderr and exit status 2.
#ifndef CV_EXAMPLE_COMMAND_LINE_H_
#define CV_EXAMPLE_COMMAND_LINE_H_

#include <boost/program_options.hpp>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

namespace cv_example {

// Parses argv into the variables `options` is bound to. `check` may throw
// boost::program_options::error for a constraint across options. Where `options` has "version",
// --version prints "PROGRAM VERSION_LINE" and exits 0. Returns the status to exit with (0 after
// --help or --version, 2 on a bad command line), or nullopt to go on.
inline std::optional<int> ParseCommandLine(
    int argc, char** argv, const boost::program_options::options_description& options,
    const char* program, const std::function<void()>& check = {},
    const std::string& version_line = {}) {
  namespace po = boost::program_options;
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    if (vm.count("version")) {
      std::cout << program << " " << version_line << "\n";
      return 0;
    }
    po::notify(vm);
    if (check) check();
  } catch (const po::error& e) {
    std::cerr << program << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace cv_example

#endif  // CV_EXAMPLE_COMMAND_LINE_H_
