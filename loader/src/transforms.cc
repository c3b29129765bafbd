#include "loader/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "bilinear_passes.h"

namespace loader {
namespace {

using bilinear::axis_weights;
using bilinear::AxisWeights;
using bilinear::horizontal_pass;
using bilinear::vertical_pass;

// A uniform double in [0, 1) from the top 53 bits of one draw.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double uniform(std::mt19937_64& rng, double low, double high) {
  return low + (high - low) * uniform01(rng);
}

// A uniform integer in [0, n) by rejection, identical on every platform (unlike
// std::uniform_int_distribution, whose algorithm the standard leaves open).
int64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t value;
  do {
    value = rng();
  } while (value >= limit);
  return static_cast<int64_t>(value % n);
}

// Python's round(): halves go to the even neighbour, which nearbyint does in the default mode.
int python_round(double x) { return static_cast<int>(std::nearbyint(x)); }

}  // namespace

CropBox sample_resized_crop(int width, int height, std::mt19937_64& rng, const CropParams& params) {
  const double area = static_cast<double>(width) * height;
  const double log_min = std::log(params.min_ratio), log_max = std::log(params.max_ratio);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target_area = area * uniform(rng, params.min_scale, params.max_scale);
    double ratio = std::exp(uniform(rng, log_min, log_max));
    int w = python_round(std::sqrt(target_area * ratio));
    int h = python_round(std::sqrt(target_area / ratio));
    if (0 < w && w <= width && 0 < h && h <= height) {
      int top = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(height - h + 1)));
      int left = static_cast<int>(uniform_below(rng, static_cast<uint64_t>(width - w + 1)));
      return {top, left, h, w};
    }
  }
  double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < params.min_ratio) {
    h = python_round(w / params.min_ratio);
  } else if (in_ratio > params.max_ratio) {
    w = python_round(h * params.max_ratio);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void resize_to_planar_rgb(const cv::Mat& bgr, const Region& region, int out_width, int out_height,
                          uint8_t* rgb_planes, ResizeCode code) {
  AxisWeights horizontal = axis_weights(bgr.cols, region.left, region.right, out_width);
  AxisWeights vertical = axis_weights(bgr.rows, region.top, region.bottom, out_height);
  // Only the rows the vertical filter reads go through the horizontal pass.
  int row0 = vertical.first.front();
  int row_end = vertical.first.back() + vertical.taps;
  thread_local std::vector<uint8_t> intermediate;
  intermediate.resize(static_cast<size_t>(row_end - row0) * out_width * 3);
  horizontal_pass(bgr, row0, row_end - row0, horizontal, out_width, intermediate.data(), code);
  vertical_pass(intermediate.data(), row0, out_width, vertical, out_height, rgb_planes, code);
}

cv::Mat resize_bilinear(const cv::Mat& bgr, int out_width, int out_height) {
  std::vector<uint8_t> planes(static_cast<size_t>(out_width) * out_height * 3);
  resize_to_planar_rgb(bgr, {0, 0, static_cast<double>(bgr.cols), static_cast<double>(bgr.rows)},
                       out_width, out_height, planes.data());
  const size_t plane = static_cast<size_t>(out_width) * out_height;
  std::vector<cv::Mat> channels;
  for (int c = 2; c >= 0; --c) {
    channels.emplace_back(out_height, out_width, CV_8U, planes.data() + c * plane);
  }
  cv::Mat out;
  cv::merge(channels, out);
  return out;
}

}  // namespace loader
