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
#include <array>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numbers>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/c_text.h"
#include "common/command_line.h"
#include "common/ordered_workers.h"
#include "loader/encode.h"

namespace po = boost::program_options;

namespace {

constexpr std::array<const char*, 37> kBreeds = {"Abyssinian",
                                                 "Bengal",
                                                 "Birman",
                                                 "Bombay",
                                                 "British_Shorthair",
                                                 "Egyptian_Mau",
                                                 "Maine_Coon",
                                                 "Persian",
                                                 "Ragdoll",
                                                 "Russian_Blue",
                                                 "Siamese",
                                                 "Sphynx",
                                                 "american_bulldog",
                                                 "american_pit_bull_terrier",
                                                 "basset_hound",
                                                 "beagle",
                                                 "boxer",
                                                 "chihuahua",
                                                 "english_cocker_spaniel",
                                                 "english_setter",
                                                 "german_shorthaired",
                                                 "great_pyrenees",
                                                 "havanese",
                                                 "japanese_chin",
                                                 "keeshond",
                                                 "leonberger",
                                                 "miniature_pinscher",
                                                 "newfoundland",
                                                 "pomeranian",
                                                 "pug",
                                                 "saint_bernard",
                                                 "samoyed",
                                                 "scottish_terrier",
                                                 "shiba_inu",
                                                 "staffordshire_bull_terrier",
                                                 "wheaten_terrier",
                                                 "yorkshire_terrier"};

// Every archive entry gets this modification time (that of the real archive's files, roughly),
// so archives are reproducible.
constexpr int64_t kEntryTime = 1340000000;

// SplitMix64: a fast generator whose output is fully specified, unlike the standard library's
// distributions, so images are the same with any compiler.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform(double low, double high) { return low + (high - low) * (next() >> 11) * 0x1p-53; }

 private:
  uint64_t state_;
};

enum class Kind { kColourJpeg, kGrayJpeg, kPng, kRgbaPng };

// Where the odd files go: fixed fractions of the count, so every set of a few dozen has them.
Kind kind_of(size_t index, size_t count) {
  const auto at = [count](double fraction) { return static_cast<size_t>(fraction * count); };
  if (count < 8) return Kind::kColourJpeg;
  if (index == at(0.13) || index == at(0.57) || index == at(0.91)) return Kind::kGrayJpeg;
  if (index == at(0.29)) return Kind::kPng;
  if (index == at(0.44) || index == at(0.73)) return Kind::kRgbaPng;
  return Kind::kColourJpeg;
}

// Image `index` of the set: breeds interleaved so any count is balanced, numbered from 1.
std::string file_name(size_t index) {
  return std::string(kBreeds[index % kBreeds.size()]) + "_" +
         std::to_string(index / kBreeds.size() + 1) + ".jpg";
}

// A saturated colour of hue `degrees` (0 red, 120 green, 240 blue) and value `v`, as BGR.
cv::Vec3f hue_colour(double degrees, double saturation, double v) {
  const double h = std::fmod(degrees + 360.0, 360.0) / 60.0;
  const double c = v * saturation, x = c * (1 - std::fabs(std::fmod(h, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0:
      r = c, g = x;
      break;
    case 1:
      r = x, g = c;
      break;
    case 2:
      g = c, b = x;
      break;
    case 3:
      g = x, b = c;
      break;
    case 4:
      r = x, b = c;
      break;
    default:
      r = c, b = x;
      break;
  }
  return cv::Vec3f(static_cast<float>((b + m) * 255), static_cast<float>((g + m) * 255),
                   static_cast<float>((r + m) * 255));
}

// Draws the picture of class `label` with everything else drawn from `rng`.
cv::Mat draw(int label, Random& rng) {
  // Sizes like the real photos: mostly about 500 wide, landscape 4:3 more often than not.
  const int width = static_cast<int>(rng.uniform(300, 700));
  const double shape = rng.uniform(0, 1);
  const double aspect = shape < 0.65 ? 0.75 : shape < 0.85 ? 1.333 : 1.0;
  const int height =
      std::clamp(static_cast<int>(width * aspect * rng.uniform(0.95, 1.05)), 150, 800);

  const int hue_code = label % 4, angle_code = label / 4 % 4, period_code = label / 16;
  const cv::Vec3f colour = hue_colour(hue_code * 90.0 + 20 + rng.uniform(-12, 12),
                                      rng.uniform(0.6, 0.9), rng.uniform(0.55, 0.95));
  const cv::Vec3f background =
      hue_colour(rng.uniform(0, 360), rng.uniform(0, 0.4), rng.uniform(0.3, 0.9));
  const double angle = angle_code * std::numbers::pi / 4 + rng.uniform(-0.08, 0.08);
  const double period =
      std::min(width, height) / (3.0 * (1 << period_code)) * rng.uniform(0.9, 1.1);
  const double kx = 2 * std::numbers::pi * std::cos(angle) / period;
  const double ky = 2 * std::numbers::pi * std::sin(angle) / period;
  const double phase = rng.uniform(0, 2 * std::numbers::pi);
  const double cx = width * rng.uniform(0.4, 0.6), cy = height * rng.uniform(0.4, 0.6);
  const double ax = width * rng.uniform(0.3, 0.42), ay = height * rng.uniform(0.3, 0.42);
  const double noise = rng.uniform(12, 20);

  // sin(kx x + ky y + phase) split into per-column and per-row factors: two multiplies a pixel.
  std::vector<float> sin_x(width), cos_x(width);
  for (int x = 0; x < width; ++x) {
    sin_x[x] = static_cast<float>(std::sin(kx * x));
    cos_x[x] = static_cast<float>(std::cos(kx * x));
  }
  cv::Mat image(height, width, CV_8UC3);
  Random pixel_rng(rng.next());
  for (int y = 0; y < height; ++y) {
    const float sin_y = static_cast<float>(std::sin(ky * y + phase));
    const float cos_y = static_cast<float>(std::cos(ky * y + phase));
    const double dy = (y - cy) / ay;
    const float shade = static_cast<float>(0.75 + 0.25 * y / height);
    auto* row = image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < width; ++x) {
      const double dx = (x - cx) / ax;
      cv::Vec3f pixel;
      if (dx * dx + dy * dy <= 1.0) {
        const float stripe = sin_x[x] * cos_y + cos_x[x] * sin_y;
        pixel = colour * (0.6f + 0.4f * stripe);
      } else {
        pixel = background * shade;
      }
      // Triangular noise from two random bytes a channel: cheap, and JPEG sizes like photos'.
      const uint64_t bits = pixel_rng.next();
      for (int c = 0; c < 3; ++c) {
        const int sum = static_cast<int>((bits >> (16 * c)) & 0xff) +
                        static_cast<int>((bits >> (16 * c + 8)) & 0xff) - 255;
        row[x][c] = cv::saturate_cast<uint8_t>(pixel[c] + sum * noise / 128.0);
      }
    }
  }
  return image;
}

constexpr int kJpegQuality = 90;

// The encoded bytes of image `index` of a set of `count` made with `seed` into `*bytes`; an empty
// string or the reason encoding failed.
std::string make_image(uint64_t seed, size_t index, size_t count, std::vector<uint8_t>* bytes) {
  Random rng(seed * 0x100000001b3ULL + index);
  rng.next();  // decorrelates neighbouring indices, which differ in one input bit only
  cv::Mat image = draw(static_cast<int>(index % kBreeds.size()), rng);
  switch (kind_of(index, count)) {
    case Kind::kColourJpeg:
      return loader::encode_jpeg(image, kJpegQuality, bytes);
    case Kind::kGrayJpeg: {
      cv::Mat gray;
      cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
      return loader::encode_jpeg(gray, kJpegQuality, bytes);
    }
    case Kind::kPng:
      return loader::encode_png(image, bytes);
    case Kind::kRgbaPng: {
      cv::Mat rgba;
      cv::cvtColor(image, rgba, cv::COLOR_BGR2BGRA);
      // A transparent margin, as cut-out photos have; the decoder must drop alpha, not composite.
      cv::Mat alpha(rgba.size(), CV_8U, cv::Scalar(0));
      alpha(cv::Rect(rgba.cols / 8, rgba.rows / 8, rgba.cols * 3 / 4, rgba.rows * 3 / 4)) = 255;
      cv::insertChannel(alpha, rgba, 3);
      return loader::encode_png(rgba, bytes);
    }
  }
  return "unknown image kind";
}

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
      [&](Image& image) { image.error = make_image(seed, image.index, count, &image.bytes); },
      [&](Image& image) {
        if (!image.error.empty()) {
          error = file_name(image.index) + ": " + image.error;
          return false;
        }
        for (Sink* sink : sinks) {
          error = sink->add(file_name(image.index), image.bytes);
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
