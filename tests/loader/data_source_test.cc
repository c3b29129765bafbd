// Training from an archive in place gives what training from its extracted directory gives:
// the same classes, labels, split, and batches bit for bit, for plain tars by GNU tar and
// bsdtar, `stage pack` archives and a .tar.gz read into memory; and bad archives and members
// are named in one line.
#include "loader/data_source.h"

#include <ATen/ops/equal.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "loader/data_loader.h"
#include "test_util.h"

namespace loader {
namespace {

namespace fs = std::filesystem;
using loader_test::TempDir;

std::string bin(const std::string& name) {
  const char* dir = std::getenv("STAGE_BIN_DIR");
  return std::string(dir ? dir : "build/bin") + "/" + name;
}

int sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// One synthetic Pets set, extracted and archived every way, made once for the suite.
class DataSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    ASSERT_EQ(sh(bin("make_pets") + " --out " + d + "/images --count 90 --seed 3"), 0);
    ASSERT_EQ(sh("printf x > " + d + "/images/notes.txt"), 0);  // not an image, in both
    ASSERT_EQ(sh("cd " + d +
                 " && tar --format=gnu -cf gnu.tar images && bsdtar --format=pax "
                 "-cf pax.tar images && gzip -k gnu.tar"),
              0);
    ASSERT_EQ(sh(bin("stage") + " pack --from " + d + "/gnu.tar --to " + d +
                 "/ra.tar.zst --random-access --level 1"),
              0);
    ASSERT_EQ(sh(bin("stage") + " pack --from " + d + "/gnu.tar --to " + d + "/big.tar.zst"), 0);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string path(const std::string& name) { return dir_->file(name); }

  static DataSource open(const std::string& data, DataSourceOptions options = {}) {
    DataSource source;
    std::string error = open_data_source(data, pets_label, options, &source);
    EXPECT_EQ(error, "") << data;
    return source;
  }

  static TempDir* dir_;
};
TempDir* DataSourceTest::dir_ = nullptr;

std::string base(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// Every batch of two epochs of the training pipeline and one of the evaluation pipeline.
std::vector<Batch> batches(const DataSource& source, const std::vector<size_t>& positions,
                           Mode mode) {
  std::vector<Sample> samples;
  for (size_t p : positions) samples.push_back(source.set.samples[p]);
  LoaderOptions options{.image_size = 48, .batch_size = 16, .threads = 3, .seed = 42};
  options.mode = mode;
  options.shuffle = mode == Mode::kTrain;
  options.store = source.store;
  DataLoader loader(samples, options);
  std::vector<Batch> out;
  for (int epoch = 0; epoch < (mode == Mode::kTrain ? 2 : 1); ++epoch) {
    loader.start_epoch(epoch);
    while (std::optional<Batch> batch = loader.next()) out.push_back(std::move(*batch));
  }
  EXPECT_EQ(loader.stats().skipped, 0u);
  return out;
}

void expect_same_training(const DataSource& dir, const DataSource& archive) {
  ASSERT_EQ(archive.set.classes, dir.set.classes);
  ASSERT_EQ(archive.set.samples.size(), dir.set.samples.size());
  for (size_t i = 0; i < dir.set.samples.size(); ++i) {
    EXPECT_EQ(base(archive.set.samples[i].path), base(dir.set.samples[i].path));
    EXPECT_EQ(archive.set.samples[i].label, dir.set.samples[i].label);
  }
  Split split = split_indices(dir.set.samples.size(), 0.8, 42);
  for (auto [positions, mode] : {std::pair{split.train, Mode::kTrain}, {split.eval, Mode::kEval}}) {
    std::vector<Batch> want = batches(dir, positions, mode);
    std::vector<Batch> got = batches(archive, positions, mode);
    ASSERT_EQ(got.size(), want.size());
    for (size_t b = 0; b < want.size(); ++b) {
      EXPECT_EQ(got[b].sample_indices, want[b].sample_indices);
      EXPECT_TRUE(at::equal(got[b].labels, want[b].labels));
      EXPECT_TRUE(at::equal(got[b].images, want[b].images)) << "batch " << b;
    }
  }
}

TEST_F(DataSourceTest, EveryArchiveKindTrainsExactlyAsItsExtractedDirectory) {
  DataSource dir = open(path("images"));
  EXPECT_EQ(dir.store, nullptr);
  ASSERT_EQ(dir.set.samples.size(), 90u);
  for (const char* name : {"gnu.tar", "pax.tar", "ra.tar.zst", "big.tar.zst", "gnu.tar.gz"}) {
    SCOPED_TRACE(name);
    DataSource archive = open(path(name));
    ASSERT_NE(archive.store, nullptr);
    EXPECT_EQ(archive.set.samples[0].path, path(name) + "/images/" + base(dir.set.samples[0].path));
    expect_same_training(dir, archive);
  }
}

TEST_F(DataSourceTest, PreloadedOrNotTheBatchesAreTheSame) {
  DataSource dir = open(path("images"));
  for (Preload preload : {Preload::kOn, Preload::kOff}) {
    DataSourceOptions options;
    options.preload = preload;
    DataSource archive = open(path("gnu.tar"), options);
    // Preloaded or not as asked: the note on how it is read says so.
    std::string notes;
    for (const std::string& note : archive.notes) notes += note + "\n";
    EXPECT_EQ(notes.find("reading the whole file into memory first") != std::string::npos,
              preload == Preload::kOn)
        << notes;
    expect_same_training(dir, archive);
  }
}

TEST_F(DataSourceTest, FolderIsChosenByNameWhenSeveralHoldImages) {
  const std::string d = path("two");
  ASSERT_EQ(sh("mkdir -p " + d + "/a " + d + "/b && cp " + path("images") + "/Abyssinian_1.jpg " +
               d + "/a/ && cp " + path("images") + "/beagle_*.jpg " + d + "/b/ && tar -C " + d +
               " -cf " + d + "/a.tar a b"),
            0);
  DataSource a = open(d + "/a.tar");  // named like the archive
  ASSERT_EQ(a.set.samples.size(), 1u);
  DataSource b = open(d + "/a.tar/b/");
  EXPECT_EQ(b.set.samples.size(), list_images(d + "/b").size());
  EXPECT_EQ(b.set.classes, std::vector<std::string>{"beagle"});
  ASSERT_EQ(sh("cp " + d + "/a.tar " + d + "/other.tar"), 0);
  DataSource none;
  std::string error = open_data_source(d + "/other.tar", pets_label, {}, &none);
  EXPECT_EQ(error, d + "/other.tar: .jpg members in several folders (a/, b/): name one as " + d +
                       "/other.tar/FOLDER");
  error = open_data_source(d + "/a.tar/c", pets_label, {}, &none);
  EXPECT_EQ(error, d + "/a.tar: no .jpg members directly in c/");
}

TEST_F(DataSourceTest, DamagedArchiveStopsWithOneLineNamingIt) {
  const std::string cut = path("cut.tar");
  fs::copy_file(path("gnu.tar"), cut, fs::copy_options::overwrite_existing);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  DataSource source;
  std::string error = open_data_source(cut, pets_label, {}, &source);
  EXPECT_EQ(error.rfind(cut + ": ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_NE(error.find("runcated"), std::string::npos) << error;
}

TEST_F(DataSourceTest, BadMemberIsSkippedAndCountedNamingArchiveAndMember) {
  const std::string d = path("bad");
  ASSERT_EQ(sh("mkdir -p " + d + "/images && cp " + path("images") + "/beagle_*.jpg " + d +
               "/images/ && head -c 300 " + path("images") + "/beagle_1.jpg > " + d +
               "/images/beagle_1.jpg && tar -C " + d + " -cf " + d + "/bad.tar images"),
            0);
  DataSourceOptions options;
  options.preload = Preload::kOff;
  DataSource source = open(d + "/bad.tar", options);
  LoaderOptions loader_options{.image_size = 32, .batch_size = 4, .threads = 2};
  loader_options.store = source.store;
  DataLoader loader(source.set.samples, loader_options);
  loader.start_epoch(0);
  size_t images = 0;
  while (std::optional<Batch> batch = loader.next()) images += batch->sample_indices.size();
  EXPECT_EQ(loader.stats().skipped, 1u);
  EXPECT_EQ(images, source.set.samples.size() - 1);
}

TEST_F(DataSourceTest, MemberChangedAfterOpeningStopsTheLoaderNamingIt) {
  const std::string copy = path("changing.tar");
  fs::copy_file(path("gnu.tar"), copy, fs::copy_options::overwrite_existing);
  DataSourceOptions options;
  options.preload = Preload::kOff;
  DataSource source = open(copy, options);
  {  // every member moves by one block
    std::string bytes;
    {
      std::ifstream in(copy, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::ofstream out(copy, std::ios::binary | std::ios::in);
    out.write(std::string(512, '\0').data(), 512);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 512));
  }
  std::vector<uint8_t> bytes;
  std::string error = source.store->read(source.set.samples[0].key, &bytes);
  EXPECT_NE(error.find(copy + ": images/" + base(source.set.samples[0].path)), std::string::npos)
      << error;
  EXPECT_NE(error.find("changed since it was indexed"), std::string::npos) << error;
  // In the loader, a bad archive is no bad sample: delivery ends and error() says why.
  LoaderOptions loader_options{.image_size = 32, .batch_size = 8, .threads = 2};
  loader_options.store = source.store;
  DataLoader loader(source.set.samples, loader_options);
  loader.start_epoch(0);
  size_t delivered = 0;
  while (loader.next()) ++delivered;
  EXPECT_LT(delivered, loader.batches_per_epoch());
  EXPECT_NE(loader.error().find(copy + ": images/"), std::string::npos) << loader.error();
}

TEST_F(DataSourceTest, MissingPathIsNamed) {
  DataSource source;
  EXPECT_EQ(open_data_source(path("nothing/here"), pets_label, {}, &source),
            path("nothing/here") + ": No such file or directory");
}

}  // namespace
}  // namespace loader
