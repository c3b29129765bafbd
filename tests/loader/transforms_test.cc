#include "loader/transforms.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "test_util.h"

namespace loader {
namespace {

using loader_test::TempDir;
using loader_test::test_image;

double max_difference(const cv::Mat& a, const cv::Mat& b) {
  double max = 0;
  cv::minMaxLoc(cv::abs(a - b), nullptr, &max);
  return max;
}

TEST(SampleResizedCrop, CropsInsideImageWithinScaleAndRatio) {
  std::mt19937_64 rng(7);
  const CropParams params;
  for (auto [width, height] : {std::pair{500, 375}, {375, 500}, {224, 224}, {800, 600}, {31, 17}}) {
    for (int i = 0; i < 2000; ++i) {
      CropBox c = sample_resized_crop(width, height, rng);
      ASSERT_GE(c.top, 0);
      ASSERT_GE(c.left, 0);
      ASSERT_GT(c.width, 0);
      ASSERT_GT(c.height, 0);
      ASSERT_LE(c.left + c.width, width);
      ASSERT_LE(c.top + c.height, height);
      // Whole-pixel rounding moves area and ratio off their drawn values by at most half a pixel
      // on each side.
      double area = double(c.width) * c.height / (double(width) * height);
      double slack = (c.width + c.height + 1) / (2.0 * width * height) * 2;
      EXPECT_GE(area, params.min_scale - slack);
      EXPECT_LE(area, params.max_scale + slack);
      double ratio = double(c.width) / c.height;
      EXPECT_GE(ratio,
                params.min_ratio * (c.width - 0.5) / (c.width) * c.height / (c.height + 0.5));
      EXPECT_LE(ratio, params.max_ratio * (c.width + 0.5) / c.width * c.height / (c.height - 0.5));
    }
  }
}

// Inside the ranges is not enough: the draws cover them, to both ends (a generator that drew
// from half the range would pass the test above).
TEST(SampleResizedCrop, AreasAndRatiosCoverTheirWholeRanges) {
  std::mt19937_64 rng(11);
  const CropParams params;
  double min_area = 1, max_area = 0, min_ratio = 10, max_ratio = 0;
  for (int i = 0; i < 4000; ++i) {
    CropBox c = sample_resized_crop(1000, 1000, rng);
    const double area = double(c.width) * c.height / 1e6, ratio = double(c.width) / c.height;
    min_area = std::min(min_area, area);
    max_area = std::max(max_area, area);
    min_ratio = std::min(min_ratio, ratio);
    max_ratio = std::max(max_ratio, ratio);
  }
  EXPECT_LT(min_area, params.min_scale + 0.02);
  EXPECT_GT(max_area, 0.9);
  EXPECT_LT(min_ratio, params.min_ratio * 1.03);
  EXPECT_GT(max_ratio, params.max_ratio / 1.03);
}

TEST(SampleResizedCrop, PositionsSpanEveryValidOffset) {
  std::mt19937_64 rng(3);
  bool saw_zero = false, saw_last = false;
  for (int i = 0; i < 20000; ++i) {
    CropBox c = sample_resized_crop(20, 20, rng);
    if (c.width == 20) continue;  // a single valid offset
    saw_zero |= c.left == 0;
    saw_last |= c.left == 20 - c.width;
  }
  EXPECT_TRUE(saw_zero);
  EXPECT_TRUE(saw_last);
}

TEST(SampleResizedCrop, SameGeneratorStateSameCrop) {
  std::mt19937_64 a(11), b(11);
  for (int i = 0; i < 100; ++i) {
    CropBox x = sample_resized_crop(500, 375, a), y = sample_resized_crop(500, 375, b);
    EXPECT_EQ(std::tie(x.top, x.left, x.height, x.width),
              std::tie(y.top, y.left, y.height, y.width));
  }
}

// No drawn crop fits a 1000x10 strip (even half the area is 61 pixels high at ratio 4/3), so
// the fallback takes the centred crop with the ratio clamped to 4/3: h = 10, w = round(13.33).
TEST(SampleResizedCrop, WideImageFallsBackToCentredClampedRatio) {
  std::mt19937_64 rng(5);
  CropBox c = sample_resized_crop(1000, 10, rng);
  EXPECT_EQ(std::tie(c.top, c.left, c.height, c.width), std::make_tuple(0, 493, 10, 13));
}

TEST(SampleResizedCrop, TallImageFallsBackToCentredClampedRatio) {
  std::mt19937_64 rng(5);
  CropBox c = sample_resized_crop(10, 1000, rng);
  EXPECT_EQ(std::tie(c.top, c.left, c.height, c.width), std::make_tuple(493, 0, 13, 10));
}

// The fallback on an image already inside the ratio range is the whole image; force it with a
// scale range that can never fit.
TEST(SampleResizedCrop, FallbackInsideRatioRangeIsWholeImage) {
  std::mt19937_64 rng(5);
  CropParams impossible;
  impossible.min_scale = impossible.max_scale = 4.0;
  CropBox c = sample_resized_crop(300, 250, rng, impossible);
  EXPECT_EQ(std::tie(c.top, c.left, c.height, c.width), std::make_tuple(0, 0, 250, 300));
}

// A direct, slow evaluation of PIL's filter in two dimensions with doubles and no intermediate
// rounding: independent of the separable fixed-point code path.
cv::Mat reference_resize(const cv::Mat& src, cv::Rect2d box, int out_w, int out_h) {
  auto weights = [](int in_size, double in0, double in1, int out_size, int i) {
    double scale = (in1 - in0) / out_size, fs = std::max(scale, 1.0);
    double center = in0 + (i + 0.5) * scale;
    std::vector<double> w(in_size, 0.0);
    double sum = 0;
    for (int x = 0; x < in_size; ++x) {
      double d = std::abs((x + 0.5 - center) / fs);
      w[x] = d < 1 ? 1 - d : 0;
      sum += w[x];
    }
    for (double& v : w) v /= sum;
    return w;
  };
  cv::Mat out(out_h, out_w, CV_8UC3);
  for (int y = 0; y < out_h; ++y) {
    std::vector<double> wy = weights(src.rows, box.y, box.y + box.height, out_h, y);
    for (int x = 0; x < out_w; ++x) {
      std::vector<double> wx = weights(src.cols, box.x, box.x + box.width, out_w, x);
      for (int c = 0; c < 3; ++c) {
        double s = 0;
        for (int sy = 0; sy < src.rows; ++sy) {
          if (wy[sy] == 0) continue;
          for (int sx = 0; sx < src.cols; ++sx) s += wy[sy] * wx[sx] * src.at<cv::Vec3b>(sy, sx)[c];
        }
        out.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uint8_t>(s);
      }
    }
  }
  return out;
}

cv::Mat planar_to_bgr(const std::vector<uint8_t>& planes, int w, int h) {
  std::vector<cv::Mat> channels;
  for (int c = 2; c >= 0; --c) {
    channels.emplace_back(h, w, CV_8U, const_cast<uint8_t*>(planes.data()) + c * w * h);
  }
  cv::Mat out;
  cv::merge(channels, out);
  return out;
}

TEST(ResizeBilinear, MatchesDirectTwoDimensionalReference) {
  cv::Mat src = test_image(61, 47);
  for (auto [w, h] : {std::pair{20, 15}, {61, 47}, {90, 70}, {30, 60}, {7, 5}}) {
    EXPECT_LE(
        max_difference(resize_bilinear(src, w, h), reference_resize(src, {0, 0, 61, 47}, w, h)), 2)
        << w << "x" << h;
  }
}

TEST(ResizeToPlanarRgb, FractionalRegionMatchesReference) {
  cv::Mat src = test_image(80, 64);
  std::vector<uint8_t> planes(3 * 24 * 20);
  resize_to_planar_rgb(src, {10.5, 3.25, 70.5, 60.0}, 24, 20, planes.data());
  EXPECT_LE(max_difference(planar_to_bgr(planes, 24, 20),
                           reference_resize(src, {10.5, 3.25, 60, 56.75}, 24, 20)),
            2);
}

TEST(ResizeToPlanarRgb, PlanesAreRgbOrder) {
  cv::Mat blue(9, 9, CV_8UC3, cv::Scalar(255, 0, 0));
  std::vector<uint8_t> planes(3 * 4 * 4);
  resize_to_planar_rgb(blue, {0, 0, 9, 9}, 4, 4, planes.data());
  EXPECT_EQ(planes[0], 0);     // R
  EXPECT_EQ(planes[16], 0);    // G
  EXPECT_EQ(planes[32], 255);  // B
  EXPECT_EQ(planes[47], 255);
}

TEST(ResizeBilinear, UniformImageStaysUniform) {
  cv::Mat flat(37, 53, CV_8UC3, cv::Scalar(3, 128, 251));
  cv::Mat out = resize_bilinear(flat, 11, 29);
  EXPECT_EQ(max_difference(out, cv::Mat(29, 11, CV_8UC3, cv::Scalar(3, 128, 251))), 0);
}

// The vectorised code against the portable code, byte for byte: random images with random noise
// (so every rounding and both clip ends occur), random fractional regions, shrinking and
// enlarging, output widths that are and are not multiples of the vector width, and views whose
// rows end at the edge of the image's memory.
TEST(ResizeToPlanarRgb, VectorCodeMatchesScalarCode) {
  std::mt19937_64 rng(7);
  auto below = [&rng](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  for (int trial = 0; trial < 300; ++trial) {
    int cols = 1 + below(trial % 3 == 0 ? 40 : 600), rows = 1 + below(trial % 3 == 0 ? 40 : 450);
    cv::Mat image(rows, cols, CV_8UC3);
    cv::randu(image, 0, 256);
    if (trial % 5 == 0) image.setTo(cv::Scalar(255, 0, 255));
    int left = below(cols), top = below(rows);
    int width = 1 + below(cols - left), height = 1 + below(rows - top);
    cv::Mat view = image(cv::Rect(left, top, width, height));
    double x0 = below(2) ? 0.0 : 0.37 * below(width), y0 = below(2) ? 0.0 : 0.61 * below(height);
    Region region{x0, y0, x0 + (width - x0) * (0.5 + 0.5 * (below(3) > 0)),
                  y0 + (height - y0) * (0.5 + 0.5 * (below(3) > 0))};
    int out_w = 1 + below(trial % 2 ? 260 : 40), out_h = 1 + below(trial % 2 ? 260 : 40);
    if (trial % 4 == 0) out_w = out_h = 224;
    std::vector<uint8_t> best(size_t(3) * out_w * out_h), avx2(best.size()), scalar(best.size());
    resize_to_planar_rgb(view, region, out_w, out_h, best.data(), ResizeCode::kBest);
    resize_to_planar_rgb(view, region, out_w, out_h, avx2.data(), ResizeCode::kAvx2);
    resize_to_planar_rgb(view, region, out_w, out_h, scalar.data(), ResizeCode::kScalar);
    ASSERT_EQ(best, scalar) << "trial " << trial << ": " << width << "x" << height << " -> "
                            << out_w << "x" << out_h;
    ASSERT_EQ(avx2, scalar) << "trial " << trial << ": " << width << "x" << height << " -> "
                            << out_w << "x" << out_h;
  }
}

// PIL itself on the same pixels, which the same arithmetic reproduces exactly: whole-image resizes
// (shrinking a lot, a little, enlarging, mixed) and torchvision's crop-then-resize.
TEST(ResizeBilinear, MatchesPil) {
  if (!loader_test::python_has("PIL")) GTEST_SKIP() << "no PIL in the system Python";
  TempDir dir;
  cv::Mat src = test_image(500, 375, 9);
  loader_test::write_bytes(dir.file("src.png"), loader_test::png_bytes(src));
  const std::vector<std::array<int, 6>> cases = {
      // left, top, width, height of the crop; output width, height
      {0, 0, 500, 375, 224, 224},
      {0, 0, 500, 375, 60, 45},
      {0, 0, 500, 375, 640, 400},
      {0, 0, 500, 375, 100, 380},
      {37, 20, 401, 300, 224, 224},
      {250, 100, 180, 200, 224, 224},
      // shrink factors where the windows need fewer taps than PIL's 2 * ceil(scale) + 1 bound
      {13, 7, 380, 285, 224, 224},
      {0, 0, 247, 250, 224, 224},
      {5, 5, 490, 360, 213, 157},
      {1, 2, 451, 333, 150, 200},
      {0, 0, 500, 375, 223, 97},
      {3, 0, 497, 375, 499, 374}};
  std::ostringstream script;
  script << "from PIL import Image\nim = Image.open('" << dir.file("src.png")
         << "').convert('RGB')\n";
  for (size_t i = 0; i < cases.size(); ++i) {
    auto [l, t, w, h, ow, oh] = cases[i];
    script << "im.crop((" << l << "," << t << "," << l + w << "," << t + h << ")).resize((" << ow
           << "," << oh << "), Image.BILINEAR).save('" << dir.file(std::to_string(i) + ".ppm")
           << "')\n";
  }
  ASSERT_TRUE(loader_test::run_python(script.str()));
  for (size_t i = 0; i < cases.size(); ++i) {
    auto [l, t, w, h, ow, oh] = cases[i];
    cv::Mat view = src(cv::Rect(l, t, w, h));
    std::vector<uint8_t> planes(size_t(3) * ow * oh);
    resize_to_planar_rgb(view, {0, 0, double(w), double(h)}, ow, oh, planes.data());
    cv::Mat pil = loader_test::read_ppm(dir.file(std::to_string(i) + ".ppm"));
    ASSERT_FALSE(pil.empty()) << "case " << i;
    EXPECT_EQ(max_difference(planar_to_bgr(planes, ow, oh), pil), 0) << "case " << i;
  }
}

}  // namespace
}  // namespace loader
