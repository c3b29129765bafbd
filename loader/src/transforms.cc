#include "loader/transforms.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace loader {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed point for 8-bit images
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

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

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// For each output position along one axis: the first input index and `taps` fixed-point
// weights, computed as PIL's precompute_coeffs/normalize_coeffs_8bpc do. Every position gets the
// same number of taps (zero weights pad the shorter ones, and windows at the far edge start
// earlier), so the inner loops have a fixed length; zero weights leave the sums unchanged.
struct AxisWeights {
  int taps = 0;
  std::vector<int> first;
  std::vector<int32_t> weights;  // out_size * taps
};

AxisWeights axis_weights(int in_size, double in0, double in1, int out_size) {
  double scale = (in1 - in0) / out_size;
  double filter_scale = std::max(scale, 1.0);
  double support = filter_scale;  // the triangle's support is 1
  AxisWeights axis;
  axis.taps = std::min(static_cast<int>(std::ceil(support)) * 2 + 1, in_size);
  axis.first.resize(out_size);
  axis.weights.assign(static_cast<size_t>(out_size) * axis.taps, 0);
  std::vector<double> k(axis.taps);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int count = std::clamp(std::min(static_cast<int>(center + support + 0.5), in_size) - xmin, 0,
                           axis.taps);
    double sum = 0;
    for (int x = 0; x < count; ++x) {
      k[x] = triangle((x + xmin - center + 0.5) / filter_scale);
      sum += k[x];
    }
    int first = std::min(xmin, in_size - axis.taps);
    int32_t* out = &axis.weights[static_cast<size_t>(xx) * axis.taps + (xmin - first)];
    for (int x = 0; x < count; ++x) {
      double w = sum != 0.0 ? k[x] / sum : k[x];
      out[x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits)
                                          : 0.5 + w * (1 << kPrecisionBits));
    }
    axis.first[xx] = first;
  }
  return axis;
}

uint8_t clip8(int32_t sum) {
  return static_cast<uint8_t>(std::clamp(sum >> kPrecisionBits, 0, 255));
}

// One row of the horizontal pass; kTaps > 0 fixes the tap count at compile time so the common
// cases (3 when enlarging, 5, 7 and 9 when shrinking up to 4x) unroll.
template <int kTaps>
void horizontal_row(const uint8_t* in, const AxisWeights& axis, int out_width, uint8_t* out) {
  const int taps = kTaps > 0 ? kTaps : axis.taps;
  const int32_t* k = axis.weights.data();
  for (int xx = 0; xx < out_width; ++xx, out += 3, k += taps) {
    const uint8_t* p = in + axis.first[xx] * 3;
    int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
    for (int t = 0; t < taps; ++t, p += 3) {
      s0 += p[0] * k[t];
      s1 += p[1] * k[t];
      s2 += p[2] * k[t];
    }
    out[0] = clip8(s0);
    out[1] = clip8(s1);
    out[2] = clip8(s2);
  }
}

// The same with one pixel's three channels in one SSE4.1 register: a 4-byte load per tap, which
// reads one byte past the pixel, so windows that reach the row's last pixel load 3 bytes instead.
__attribute__((target("sse4.1"))) void horizontal_row_sse41(const uint8_t* in, int in_width,
                                                            const AxisWeights& axis, int out_width,
                                                            uint8_t* out) {
  const int taps = axis.taps;
  const int32_t* k = axis.weights.data();
  for (int xx = 0; xx < out_width; ++xx, out += 3, k += taps) {
    const uint8_t* p = in + axis.first[xx] * 3;
    const bool reaches_end = axis.first[xx] + taps >= in_width;
    __m128i sum = _mm_set1_epi32(kHalf);
    for (int t = 0; t < taps; ++t, p += 3) {
      uint32_t pixel;
      if (reaches_end && t == taps - 1) {
        pixel = p[0] | p[1] << 8 | p[2] << 16;
      } else {
        std::memcpy(&pixel, p, 4);
      }
      __m128i wide = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(static_cast<int>(pixel)));
      sum = _mm_add_epi32(sum, _mm_mullo_epi32(wide, _mm_set1_epi32(k[t])));
    }
    // Arithmetic shift then saturating packs: PIL's clip to [0, 255].
    __m128i shifted = _mm_srai_epi32(sum, kPrecisionBits);
    uint32_t packed = static_cast<uint32_t>(
        _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(shifted, shifted), shifted)));
    std::memcpy(out, &packed, 3);
  }
}

// Resamples rows [row0, row0 + rows) of `src` horizontally into `out` (rows x out_width x 3).
void horizontal_pass(const cv::Mat& src, int row0, int rows, const AxisWeights& axis, int out_width,
                     uint8_t* out) {
  static const bool kHaveSse41 = __builtin_cpu_supports("sse4.1");
  if (kHaveSse41) {
    for (int y = 0; y < rows; ++y) {
      horizontal_row_sse41(src.ptr<uint8_t>(row0 + y), src.cols, axis, out_width,
                           out + static_cast<size_t>(y) * out_width * 3);
    }
    return;
  }
  auto row = &horizontal_row<0>;
  if (axis.taps == 3) row = &horizontal_row<3>;
  if (axis.taps == 5) row = &horizontal_row<5>;
  if (axis.taps == 7) row = &horizontal_row<7>;
  if (axis.taps == 9) row = &horizontal_row<9>;
  for (int y = 0; y < rows; ++y) {
    row(src.ptr<uint8_t>(row0 + y), axis, out_width, out + static_cast<size_t>(y) * out_width * 3);
  }
}

// Resamples the intermediate (whose row 0 is source row `row0`) vertically, writing the BGR
// channels to the R, G and B planes swapped into RGB order.
__attribute__((target_clones("avx2", "default"))) void vertical_pass(const uint8_t* in, int row0,
                                                                     int width,
                                                                     const AxisWeights& axis,
                                                                     int out_height,
                                                                     uint8_t* planes) {
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  const size_t plane = static_cast<size_t>(width) * out_height;
  thread_local std::vector<int32_t> sums;
  sums.resize(row_bytes);
  for (int yy = 0; yy < out_height; ++yy) {
    std::fill(sums.begin(), sums.end(), kHalf);
    const int32_t* k = &axis.weights[static_cast<size_t>(yy) * axis.taps];
    for (int t = 0; t < axis.taps; ++t) {
      const uint8_t* row = in + (axis.first[yy] - row0 + t) * row_bytes;
      const int32_t w = k[t];
      int32_t* s = sums.data();
      for (size_t i = 0; i < row_bytes; ++i) s[i] += row[i] * w;
    }
    uint8_t* r = planes + static_cast<size_t>(yy) * width;
    for (int x = 0; x < width; ++x) {
      r[x] = clip8(sums[3 * x + 2]);
      r[plane + x] = clip8(sums[3 * x + 1]);
      r[2 * plane + x] = clip8(sums[3 * x]);
    }
  }
}

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
                          uint8_t* rgb_planes) {
  AxisWeights horizontal = axis_weights(bgr.cols, region.left, region.right, out_width);
  AxisWeights vertical = axis_weights(bgr.rows, region.top, region.bottom, out_height);
  // Only the rows the vertical filter reads go through the horizontal pass.
  int row0 = vertical.first.front();
  int row_end = vertical.first.back() + vertical.taps;
  thread_local std::vector<uint8_t> intermediate;
  intermediate.resize(static_cast<size_t>(row_end - row0) * out_width * 3);
  horizontal_pass(bgr, row0, row_end - row0, horizontal, out_width, intermediate.data());
  vertical_pass(intermediate.data(), row0, out_width, vertical, out_height, rgb_planes);
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
