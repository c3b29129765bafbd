// An image dataset over one directory: a sorted file list, labels from a caller's rule, and the
// seeded train/eval split of the Python recipe.
#ifndef LOADER_DATASET_H_
#define LOADER_DATASET_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace loader {

// One image: its full path and its class id. An image inside an archive has the path
// "ARCHIVE/MEMBER" and is read from the loader's SampleStore by `key`.
struct Sample {
  std::string path;
  int64_t label;
  uint64_t key = 0;
};

// The names (not paths) of the regular files directly in `dir` whose name ends in `suffix`, sorted
// bytewise so every run sees the same order (unlike os.listdir). Symbolic links to regular files
// count; subdirectories are not entered. An unreadable or missing `dir` gives an empty list.
std::vector<std::string> list_images(const std::string& dir, std::string_view suffix = ".jpg");

// The Pets labelling rule: the file name without its extension and its trailing "_<digits>"
// ("great_pyrenees_101.jpg" -> "great_pyrenees"). A name without such a suffix keeps its stem.
std::string pets_label(std::string_view file_name);

// Samples in list_images() order; `classes` holds the distinct labels sorted bytewise (so the
// capitalised cat breeds come first), and a sample's label is its class's position there.
struct LabeledSet {
  std::vector<Sample> samples;
  std::vector<std::string> classes;
};

// Lists the ".jpg" files of `dir` and labels each with `rule(file_name)`.
LabeledSet label_images(const std::string& dir,
                        const std::function<std::string(std::string_view)>& rule);

// Labels files named `names` (sorted bytewise here, as list_images sorts) with `rule(name)`;
// a sample's path is `prefix` + its name and its key is its position in `keys` (parallel to
// `names`; empty: keys 0).
LabeledSet label_names(std::vector<std::string> names, std::vector<uint64_t> keys,
                       const std::string& prefix,
                       const std::function<std::string(std::string_view)>& rule);

// Positions into a list of n items.
struct Split {
  std::vector<size_t> train, eval;
};

// The recipe's split: p = numpy.random.RandomState(seed).permutation(n) (what np.random.seed(seed)
// followed by np.random.permutation(n) gives), train = the first floor(n * train_fraction) entries
// of p, eval = the rest, both in permutation order. It reproduces NumPy's legacy MT19937 seeding
// and its shuffle exactly, so the same n and seed select the same positions as the Python program;
// which files those are depends on the file order, and the Python program lists the directory
// unsorted. NumPy accepts seeds below 2^32 only; larger seeds use their low 32 bits.
Split split_indices(size_t n, double train_fraction, uint64_t seed);

}  // namespace loader

#endif  // LOADER_DATASET_H_
