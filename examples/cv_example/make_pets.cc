// make_pets: a synthetic Oxford-IIIT Pets, for tests, benchmarks and the demo where the real
// archive is absent. Images are named like the real ones (<breed>_<n>.jpg, 37 breeds), have sizes
// and JPEG file sizes like them, and carry a class signal a small CNN learns from random crops:
// an ellipse filling the middle of the picture, coloured with one of four hues and striped at one
// of four angles and three frequencies (4 x 4 x 3 codes, the first 37 used), on a random
// background, with pixel noise. A few files are odd as in the real archive: grayscale JPEGs, a PNG
// and RGBA PNGs under ".jpg" names. Output depends only on the seed and the count (not on the
// thread count): the same arguments give byte-identical files and archive.
#ifdef MAKE_PETS_WITH_ARCHIVE
#include <archive.h>
#include <archive_entry.h>
#endif

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/c_text.h"
#include "common/command_line.h"
#include "common/ordered_workers.h"
#include "synthetic_pets.h"

namespace po = boost::program_options;

namespace {

// Every archive entry gets this modification time (that of the real archive's files, roughly),
// so archives are reproducible.
constexpr int64_t kEntryTime = 1340000000;

// Receives the images in index order.
class Sink {
 public:
  virtual ~Sink() = default;
  // Returns an empty string or the reason for failing.
  virtual std::string add(const std::string& name, const std::vector<uint8_t>& bytes) = 0;
  virtual std::string finish() { return {}; }
};

class DirectorySink : public Sink {
 public:
  explicit DirectorySink(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::string add(const std::string& name, const std::vector<uint8_t>& bytes) override {
    const std::filesystem::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    return out ? std::string() : path.string() + ": cannot write";
  }

 private:
  std::filesystem::path dir_;
};

#ifdef MAKE_PETS_WITH_ARCHIVE
// A gzip-compressed pax (ustar-compatible) tar with the images under "images/", as the real one.
// No gzip timestamp and fixed entry metadata, so the archive is reproducible.
class ArchiveSink : public Sink {
 public:
  explicit ArchiveSink(const std::string& path) : path_(path), archive_(archive_write_new()) {}
  ~ArchiveSink() override { archive_write_free(archive_); }
  std::string open() {
    if (archive_write_set_format_pax_restricted(archive_) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(archive_) != ARCHIVE_OK ||
        archive_write_set_options(archive_, "gzip:!timestamp,gzip:compression-level=1") !=
            ARCHIVE_OK ||
        archive_write_open_filename(archive_, path_.c_str()) != ARCHIVE_OK) {
      return error();
    }
    return write_entry("images/", AE_IFDIR, 0755, {});
  }
  std::string add(const std::string& name, const std::vector<uint8_t>& bytes) override {
    return write_entry("images/" + name, AE_IFREG, 0644, bytes);
  }
  std::string finish() override {
    return archive_write_close(archive_) == ARCHIVE_OK ? std::string() : error();
  }

 private:
  std::string error() {
    return path_ + ": " +
           common::ErrorText(archive_error_string(archive_), archive_errno(archive_));
  }
  std::string write_entry(const std::string& name, unsigned type, int mode,
                          const std::vector<uint8_t>& bytes) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), type);
    archive_entry_set_perm(entry.get(), mode);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_mtime(entry.get(), kEntryTime, 0);
    if (archive_write_header(archive_, entry.get()) != ARCHIVE_OK) return error();
    if (!bytes.empty() && archive_write_data(archive_, bytes.data(), bytes.size()) !=
                              static_cast<la_ssize_t>(bytes.size())) {
      return error();
    }
    return {};
  }

  std::string path_;
  struct archive* archive_;
};
#endif  // MAKE_PETS_WITH_ARCHIVE

// Makes the images on `threads` threads and hands them to the sinks in index order, holding at
// most a window of finished images in memory.
std::string generate(uint64_t seed, size_t count, int threads, const std::vector<Sink*>& sinks) {
  struct Image {
    size_t index = 0;
    std::vector<uint8_t> bytes;
    std::string error;
  };
  std::string error;  // the first failure, in index order (set by the emitting thread)
  common::OrderedWorkers<Image> images(
      threads, 8 * static_cast<size_t>(threads),
      [&](Image& image) {
        image.error = cv_example::make_pet_image(seed, image.index, count, &image.bytes);
      },
      [&](Image& image) {
        if (!image.error.empty()) {
          error = cv_example::pet_file_name(image.index) + ": " + image.error;
          return false;
        }
        for (Sink* sink : sinks) {
          error = sink->add(cv_example::pet_file_name(image.index), image.bytes);
          if (!error.empty()) return false;
        }
        return true;
      });
  for (size_t index = 0; index < count; ++index) {
    if (!images.Submit(Image{index, {}, {}})) break;
  }
  images.Finish();
  for (Sink* sink : sinks) {
    if (error.empty()) error = sink->finish();
  }
  return error;
}

// Writes the images into the sinks asked for; the process exit status.
int Make(const std::string& out, const std::string& archive, int64_t count, uint64_t seed,
         int threads) {
  // The images are made in parallel here; OpenCV's own threads would only compete.
  cv::setNumThreads(1);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  std::vector<std::unique_ptr<Sink>> owned;
  if (!out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec) {
      std::cerr << "make_pets: " << out << ": " << ec.message() << "\n";
      return 1;
    }
    owned.push_back(std::make_unique<DirectorySink>(out));
  }
  if (!archive.empty()) {
#ifndef MAKE_PETS_WITH_ARCHIVE
    std::cerr << "make_pets: --archive: this build has no libarchive (configured with "
                 "-DSTAGE_WITH_STAGING=OFF)\n";
    return 1;
#else
    auto sink = std::make_unique<ArchiveSink>(archive);
    if (std::string error = sink->open(); !error.empty()) {
      std::cerr << "make_pets: " << error << "\n";
      return 1;
    }
    owned.push_back(std::move(sink));
#endif
  }
  std::vector<Sink*> sinks;
  for (auto& sink : owned) sinks.push_back(sink.get());
  if (std::string error = generate(seed, count, threads, sinks); !error.empty()) {
    std::cerr << "make_pets: " << error << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, archive;
  int64_t count = 0;  // signed, so that -1 is refused rather than wrapped round
  uint64_t seed = 42;
  int threads = 0;
  po::options_description options("Options");
  auto add = options.add_options();
  add("help,h", "show this help and exit");
  add("version", "show the version and exit");
  add("out", po::value(&out)->value_name("DIR"), "directory for the images (created)");
  add("count", po::value(&count)->required()->value_name("N"), "number of images, at least 1");
  add("seed", po::value(&seed)->default_value(seed)->value_name("N"), "seed of everything drawn");
  add("archive", po::value(&archive)->value_name("FILE"),
      "also (or only) write this tar.gz, entries under images/");
  add("threads", po::value(&threads)->default_value(0)->value_name("N"),
      "threads (0: one per core)");
  const common::Program program{
      "make_pets",
      "Usage: make_pets (--out DIR | --archive FILE) --count N [options]\n\n"
      "Writes N synthetic Pets images (<breed>_<n>.jpg, 37 breeds) into DIR and/or a tar.gz\n"
      "holding them under images/. The same seed and count give byte-identical output.\n\n"
      "Examples:\n"
      "  make_pets --out /tmp/pets --count 740\n"
      "  make_pets --archive persistent-disk/cv_example/images.tar.gz --count 7390\n",
      {}};
  return common::RunProgram("make_pets", [&] {
    po::variables_map vm;
    if (auto exit_status = common::ParseCommandLine(
            program, std::vector<std::string>(argv + 1, argv + argc), options, &vm)) {
      return *exit_status;
    }
    if (out.empty() && archive.empty()) throw common::UsageError("give --out, --archive or both");
    if (count < 1) {
      throw common::UsageError("--count takes a count of at least 1, not " + std::to_string(count));
    }
    if (threads < 0) throw common::UsageError("--threads takes 0 (one per core) or more");
    return Make(out, archive, count, seed, threads);
  });
}
