#include "synthetic_pets.h"

#include <array>
#include <cmath>
#include <numbers>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "loader/encode.h"

namespace cv_example {
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

}  // namespace

std::string pet_file_name(size_t index) {
  return std::string(kBreeds[index % kBreeds.size()]) + "_" +
         std::to_string(index / kBreeds.size() + 1) + ".jpg";
}

namespace {

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

}  // namespace

std::string make_pet_image(uint64_t seed, size_t index, size_t count, std::vector<uint8_t>* bytes) {
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

}  // namespace cv_example
