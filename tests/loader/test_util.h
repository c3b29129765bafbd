// Helpers shared by the loader tests: a temporary directory, test images, and the system Python
// (with NumPy, PIL and torchvision from Debian) as an independent reference.
#ifndef TESTS_LOADER_TEST_UTIL_H_
#define TESTS_LOADER_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "loader/encode.h"

namespace loader_test {

// A fresh directory removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loader_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A BGR test image with smooth gradients, edges and some noise, so that resampling errors show.
inline cv::Mat test_image(int width, int height, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      cv::Vec3b& p = image.at<cv::Vec3b>(y, x);
      p[0] = static_cast<uint8_t>((x * 255) / std::max(width - 1, 1));
      p[1] = static_cast<uint8_t>((y * 255) / std::max(height - 1, 1));
      p[2] = static_cast<uint8_t>(((x / 7 + y / 5) % 2) ? 200 + rng() % 56 : rng() % 56);
    }
  }
  return image;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// `image` as PNG or JPEG (quality 95) bytes; an encoding failure fails the test.
inline std::vector<uint8_t> png_bytes(const cv::Mat& image) {
  std::vector<uint8_t> bytes;
  const std::string error = loader::encode_png(image, &bytes);
  if (!error.empty()) ADD_FAILURE() << error;
  return bytes;
}
inline std::vector<uint8_t> jpeg_bytes(const cv::Mat& image) {
  std::vector<uint8_t> bytes;
  const std::string error = loader::encode_jpeg(image, 95, &bytes);
  if (!error.empty()) ADD_FAILURE() << error;
  return bytes;
}

// A binary PPM (P6, as PIL saves "RGB" images under a .ppm name) as a BGR image: the reference
// pixels come back without going through any decoder under test. Empty if the file is not one.
inline cv::Mat read_ppm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  int width = 0, height = 0, max_value = 0;
  in >> magic >> width >> height >> max_value;
  in.get();  // the single whitespace byte before the samples
  if (!in || magic != "P6" || max_value != 255 || width <= 0 || height <= 0) return {};
  cv::Mat rgb(height, width, CV_8UC3);
  in.read(reinterpret_cast<char*>(rgb.data), static_cast<std::streamsize>(rgb.total() * 3));
  if (!in) return {};
  cv::Mat bgr(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
      bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(p[2], p[1], p[0]);
    }
  }
  return bgr;
}

constexpr const char* kSystemPython = "/usr/bin/python3";

// Runs `script` with the system Python; true if it exited with status 0.
inline bool run_python(const std::string& script) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("loader_test_" + std::to_string(::getpid()) + ".py"))
                         .string();
  std::ofstream(path) << script;
  std::string command = std::string(kSystemPython) + " " + path + " >/dev/null 2>&1";
  int status = std::system(command.c_str());
  std::filesystem::remove(path);
  return status == 0;
}

// True when the system Python can import all of `modules` (comma-separated).
inline bool python_has(const std::string& modules) {
  return std::filesystem::exists(kSystemPython) && run_python("import " + modules + "\n");
}

}  // namespace loader_test

#endif  // TESTS_LOADER_TEST_UTIL_H_
