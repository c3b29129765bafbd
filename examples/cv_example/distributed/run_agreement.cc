#include "distributed/run_agreement.h"

#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "distributed/communicator.h"

namespace cv_example::distributed {
namespace {

std::string encode(const RunFacts& facts) {
  std::string text;
  for (const auto& [name, value] : facts) text += name + "\t" + value + "\n";
  return text;
}

RunFacts decode(const std::vector<uint8_t>& bytes) {
  RunFacts facts;
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) facts.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return facts;
}

// The first difference between rank 0's facts and rank `rank`'s, or an empty string.
std::string difference(const RunFacts& first, const RunFacts& other, int rank) {
  const std::string who = "rank " + std::to_string(rank);
  for (size_t i = 0; i < first.size() || i < other.size(); ++i) {
    if (i >= first.size() || i >= other.size() || first[i].first != other[i].first) {
      return who + " runs another version of cv_example than rank 0";
    }
    if (first[i].second != other[i].second) {
      return "the ranks disagree on " + first[i].first + ": rank 0 has " + first[i].second + ", " +
             who + " has " + other[i].second;
    }
  }
  return {};
}

}  // namespace

std::string digest(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

std::string check_every_rank_agrees(Communicator& communicator, const RunFacts& facts) {
  ::c10d::Store& store = communicator.store();
  const auto key = [](int rank) { return "facts/" + std::to_string(rank); };
  try {
    const std::string mine = encode(facts);
    store.set(key(communicator.rank()), std::vector<uint8_t>(mine.begin(), mine.end()));
    // Every rank reads every rank's facts, so every rank reaches the same verdict.
    std::vector<std::string> keys;
    for (int r = 0; r < communicator.world_size(); ++r) keys.push_back(key(r));
    store.wait(keys, communicator.timeout());
    const RunFacts first = decode(store.get(key(0)));
    for (int r = 1; r < communicator.world_size(); ++r) {
      if (std::string error = difference(first, decode(store.get(key(r))), r); !error.empty()) {
        return error;
      }
    }
  } catch (const std::exception& e) {
    std::string cause = e.what();
    return "the ranks could not compare their flags and data: " + cause.substr(0, cause.find('\n'));
  }
  return {};
}

}  // namespace cv_example::distributed
