#include "loader/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>

#include "test_util.h"

namespace loader {
namespace {

using loader_test::TempDir;

void touch(const std::string& path) { std::ofstream(path) << "x"; }

TEST(PetsLabel, StripsTrailingNumberAndExtension) {
  EXPECT_EQ(pets_label("great_pyrenees_101.jpg"), "great_pyrenees");
  EXPECT_EQ(pets_label("Abyssinian_1.jpg"), "Abyssinian");
  EXPECT_EQ(pets_label("staffordshire_bull_terrier_7.jpg"), "staffordshire_bull_terrier");
}

TEST(PetsLabel, NameWithoutNumberKeepsItsStem) {
  EXPECT_EQ(pets_label("no_number.jpg"), "no_number");
  EXPECT_EQ(pets_label("beagle_12a.jpg"), "beagle_12a");
  EXPECT_EQ(pets_label("plain.jpg"), "plain");
}

TEST(ListImages, SortedRegularFilesWithSuffixOnly) {
  TempDir dir;
  touch(dir.file("b_2.jpg"));
  touch(dir.file("a_1.jpg"));
  touch(dir.file("B_1.jpg"));
  touch(dir.file("list.mat"));
  touch(dir.file("c_1.png"));
  std::filesystem::create_directory(dir.file("d_1.jpg"));
  touch(dir.file("d_1.jpg/inner_1.jpg"));
  EXPECT_EQ(list_images(dir.path()), (std::vector<std::string>{"B_1.jpg", "a_1.jpg", "b_2.jpg"}));
}

TEST(ListImages, MissingDirectoryGivesEmptyList) {
  EXPECT_TRUE(list_images("/nonexistent/loader/dir").empty());
}

TEST(LabelImages, ClassesSortedAsStringsCapitalsFirst) {
  TempDir dir;
  for (const char* name : {"beagle_1.jpg", "Bengal_2.jpg", "Abyssinian_3.jpg", "beagle_2.jpg"}) {
    touch(dir.file(name));
  }
  LabeledSet set = label_images(dir.path(), pets_label);
  EXPECT_EQ(set.classes, (std::vector<std::string>{"Abyssinian", "Bengal", "beagle"}));
  ASSERT_EQ(set.samples.size(), 4u);
  EXPECT_EQ(set.samples[0].path, dir.file("Abyssinian_3.jpg"));
  std::vector<int64_t> labels;
  for (const Sample& s : set.samples) labels.push_back(s.label);
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 1, 2, 2}));
}

TEST(SplitIndices, DeterministicPartitionWithFloorTrainSize) {
  for (size_t n : {0, 1, 5, 7390}) {
    Split a = split_indices(n, 0.8, 42);
    Split b = split_indices(n, 0.8, 42);
    EXPECT_EQ(a.train, b.train);
    EXPECT_EQ(a.eval, b.eval);
    EXPECT_EQ(a.train.size(), static_cast<size_t>(n * 0.8));
    std::vector<size_t> all = a.train;
    all.insert(all.end(), a.eval.begin(), a.eval.end());
    std::sort(all.begin(), all.end());
    std::vector<size_t> expected(n);
    std::iota(expected.begin(), expected.end(), size_t{0});
    EXPECT_EQ(all, expected);
  }
  EXPECT_EQ(split_indices(7390, 0.8, 42).train.size(), 5912u);
  EXPECT_NE(split_indices(100, 0.8, 42).train, split_indices(100, 0.8, 43).train);
}

TEST(SplitIndices, EqualsNumpyLegacyPermutation) {
  if (!loader_test::python_has("numpy")) GTEST_SKIP() << "no NumPy in the system Python";
  TempDir dir;
  const std::vector<size_t> sizes = {1, 2, 3, 10, 37, 100, 1000, 7390};
  const std::vector<uint64_t> seeds = {0, 1, 42, 12345, 4294967295ull};
  std::ostringstream script;
  script << "import numpy as np\nwith open('" << dir.file("perms.txt") << "', 'w') as out:\n";
  for (size_t n : sizes) {
    for (uint64_t seed : seeds) {
      script << "  np.random.seed(" << seed << "); p = np.random.permutation(" << n << ")\n"
             << "  out.write(str(int(0.8 * " << n << ")) + ' ' + ' '.join(map(str, p)) + '\\n')\n";
    }
  }
  ASSERT_TRUE(loader_test::run_python(script.str()));
  std::ifstream in(dir.file("perms.txt"));
  for (size_t n : sizes) {
    for (uint64_t seed : seeds) {
      std::string line;
      ASSERT_TRUE(std::getline(in, line));
      std::istringstream fields(line);
      size_t train_size;
      fields >> train_size;
      std::vector<size_t> permutation(n);
      for (size_t& v : permutation) fields >> v;
      Split split = split_indices(n, 0.8, seed);
      EXPECT_EQ(split.train.size(), train_size) << "n=" << n << " seed=" << seed;
      std::vector<size_t> ours = split.train;
      ours.insert(ours.end(), split.eval.begin(), split.eval.end());
      EXPECT_EQ(ours, permutation) << "n=" << n << " seed=" << seed;
    }
  }
}

}  // namespace
}  // namespace loader
