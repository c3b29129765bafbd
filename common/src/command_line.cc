#include "common/command_line.h"

#include <iostream>
#include <set>

#include "stage_version.h"

namespace common {
namespace po = boost::program_options;
namespace {

// `--nproc-per-node` for a program that declares nproc_per_node, and the other way round: each
// "--NAME[=VALUE]" whose NAME is not declared but its other spelling is gets that spelling.
std::vector<std::string> SameSpelling(const std::vector<std::string>& args,
                                      const po::options_description& options) {
  std::vector<std::string> out;
  out.reserve(args.size());
  bool after_end = false;
  for (const std::string& arg : args) {
    if (after_end || arg.size() <= 2 || arg.compare(0, 2, "--") != 0) {
      after_end = after_end || arg == "--";
      out.push_back(arg);
      continue;
    }
    const size_t equals = arg.find('=');
    std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    if (options.find_nothrow(name, false) == nullptr) {
      std::string other = name;
      for (char& c : other) c = c == '-' ? '_' : c == '_' ? '-' : c;
      if (options.find_nothrow(other, false) != nullptr) name = other;
    }
    out.push_back("--" + name + (equals == std::string::npos ? "" : arg.substr(equals)));
  }
  return out;
}

// Drops every use of an option but its last, except for options that collect each value.
void LastValueWins(po::parsed_options& parsed, const po::options_description& options) {
  std::set<std::string> seen;
  std::vector<po::option> kept;
  for (auto it = parsed.options.rbegin(); it != parsed.options.rend(); ++it) {
    const po::option_description* d =
        it->string_key.empty() ? nullptr : options.find_nothrow(it->string_key, false);
    const bool collects = d == nullptr || d->semantic()->is_composing();
    if (collects || seen.insert(it->string_key).second) kept.push_back(*it);
  }
  parsed.options.assign(kept.rbegin(), kept.rend());
}

}  // namespace

std::string VersionLine(const std::string& name) {
  return name + " " + kStageVersion + " (git " + kStageGitDescription + ")";
}

void PrintHelp(std::ostream& out, const Program& program, const po::options_description& options) {
  out << program.usage;
  if (!program.usage.empty() && program.usage.back() != '\n') out << "\n";
  out << "\n"
      << options << "\n"
      << "Exit status: 0 on success, 1 when the work failed, 2 for a usage error (nothing done),\n"
         "128 + N after signal N (130 for Ctrl-C, 143 for SIGTERM).\n";
}

std::optional<int> ParseCommandLine(const Program& program, const std::vector<std::string>& args,
                                    const po::options_description& options, po::variables_map* vm,
                                    const po::positional_options_description* positional,
                                    const std::vector<std::string>& hints) {
  try {
    po::command_line_parser parser(SameSpelling(args, options));
    parser.options(options);
    if (positional != nullptr) parser.positional(*positional);
    po::parsed_options parsed = parser.run();
    LastValueWins(parsed, options);
    po::store(parsed, *vm);
    if (vm->count("help")) {
      PrintHelp(std::cout, program, options);
      return 0;
    }
    if (vm->count("version")) {
      const std::string facts = program.build_facts ? program.build_facts() : std::string();
      std::cout << VersionLine(program.name) << "\n" << facts;
      if (!facts.empty() && facts.back() != '\n') std::cout << "\n";
      return 0;
    }
    // Arguments no option took: positional ones that `positional` does not map to an option.
    std::vector<std::string> stray;
    for (const po::option& o : parsed.options) {
      if (o.string_key.empty() || o.unregistered) {
        stray.insert(stray.end(), o.original_tokens.begin(), o.original_tokens.end());
      }
    }
    if (!stray.empty()) {
      std::string message = "unexpected argument '" + stray.front() + "'";
      for (const std::string& option : hints) {
        const std::string key = option.substr(2);
        if (vm->count(key) == 0 || (*vm)[key].defaulted()) {
          message += " (did you mean " + option + " " + stray.front() + "?)";
          break;
        }
      }
      throw UsageError(message);
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return std::nullopt;
}

int RunProgram(const std::string& name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << name << ": " << e.what() << " (see " << name << " --help)\n";
    return kExitUsage;
  } catch (const po::error& e) {
    std::cerr << name << ": " << e.what() << " (see " << name << " --help)\n";
    return kExitUsage;
  } catch (const std::exception& e) {  // out of memory, or a library's unforeseen error
    std::cerr << name << ": error: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace common
