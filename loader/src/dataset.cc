#include "loader/dataset.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>
#include <system_error>

namespace loader {
namespace {

namespace fs = std::filesystem;

// NumPy's random_interval(): a value in [0, max] by masking 32-bit draws to the smallest
// all-ones mask covering max and rejecting values above it. The permutations stay below 2^32
// items, so the 64-bit branch NumPy takes for larger bounds is never needed.
uint32_t numpy_random_interval(std::mt19937& mt, uint32_t max) {
  if (max == 0) return 0;
  uint32_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  uint32_t value;
  do {
    value = static_cast<uint32_t>(mt()) & mask;
  } while (value > max);
  return value;
}

// RandomState(seed).permutation(n): arange(n) shuffled by Fisher-Yates from the last element
// down. std::mt19937 seeded with a 32-bit value is exactly NumPy's legacy init_genrand seeding.
std::vector<size_t> numpy_permutation(size_t n, uint64_t seed) {
  std::mt19937 mt(static_cast<uint32_t>(seed));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = n; i > 1; --i) {
    size_t j = numpy_random_interval(mt, static_cast<uint32_t>(i - 1));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::vector<std::string> list_images(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (name.ends_with(suffix) && it->is_regular_file(type_ec)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string pets_label(std::string_view file_name) {
  std::string_view stem = file_name.substr(0, file_name.rfind('.'));
  size_t underscore = stem.rfind('_');
  if (underscore != std::string_view::npos && is_digits(stem.substr(underscore + 1))) {
    stem = stem.substr(0, underscore);
  }
  return std::string(stem);
}

LabeledSet label_images(const std::string& dir,
                        const std::function<std::string(std::string_view)>& rule) {
  std::string prefix = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  return label_names(list_images(dir), {}, prefix, rule);
}

LabeledSet label_names(std::vector<std::string> names, std::vector<uint64_t> keys,
                       const std::string& prefix,
                       const std::function<std::string(std::string_view)>& rule) {
  keys.resize(names.size(), 0);
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  std::vector<std::string> labels;
  labels.reserve(names.size());
  for (size_t i : order) labels.push_back(rule(names[i]));

  LabeledSet set;
  set.classes = labels;
  std::sort(set.classes.begin(), set.classes.end());
  set.classes.erase(std::unique(set.classes.begin(), set.classes.end()), set.classes.end());
  for (size_t n = 0; n < order.size(); ++n) {
    auto id = std::lower_bound(set.classes.begin(), set.classes.end(), labels[n]);
    set.samples.push_back({prefix + names[order[n]], id - set.classes.begin(), keys[order[n]]});
  }
  return set;
}

Split split_indices(size_t n, double train_fraction, uint64_t seed) {
  std::vector<size_t> order = numpy_permutation(n, seed);
  // Python's int(n * f) truncates the same double product.
  size_t train =
      std::min(n, static_cast<size_t>(std::max(0.0, static_cast<double>(n) * train_fraction)));
  Split split;
  split.train.assign(order.begin(), order.begin() + train);
  split.eval.assign(order.begin() + train, order.end());
  return split;
}

}  // namespace loader
