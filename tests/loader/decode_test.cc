#include "loader/decode.h"

#include <gif_lib.h>
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"

namespace loader {
namespace {

using loader_test::read_bytes;
using loader_test::TempDir;
using loader_test::test_image;
using loader_test::write_bytes;

std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& image) {
  std::vector<uint8_t> bytes;
  cv::imencode(ext, image, bytes);
  return bytes;
}

double max_difference(const cv::Mat& a, const cv::Mat& b) {
  double max = 0;
  cv::minMaxLoc(cv::abs(a - b), nullptr, &max);
  return max;
}

TEST(DecodeImage, ColourJpeg) {
  Decoded d = decode_image(encode(".jpg", test_image(50, 30)));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.size(), cv::Size(50, 30));
  EXPECT_EQ(d.bgr.type(), CV_8UC3);
}

TEST(DecodeImage, GrayscaleJpegBecomesThreeEqualChannels) {
  cv::Mat gray;
  cv::cvtColor(test_image(40, 20), gray, cv::COLOR_BGR2GRAY);
  Decoded d = decode_image(encode(".jpg", gray));
  ASSERT_TRUE(d.ok()) << d.error;
  std::vector<cv::Mat> channels;
  cv::split(d.bgr, channels);
  EXPECT_EQ(max_difference(channels[0], channels[1]), 0);
  EXPECT_EQ(max_difference(channels[0], channels[2]), 0);
}

TEST(DecodeImage, PngAlphaIsDroppedWithoutCompositing) {
  cv::Mat bgra(10, 12, CV_8UC4, cv::Scalar(10, 20, 200, 0));  // fully transparent red
  Decoded d = decode_image(encode(".png", bgra));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(5, 5), cv::Vec3b(10, 20, 200));
}

TEST(DecodeImage, GrayPngIsReplicated) {
  cv::Mat gray(8, 9, CV_8U, cv::Scalar(77));
  Decoded d = decode_image(encode(".png", gray));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(3, 3), cv::Vec3b(77, 77, 77));
}

// Writes a palette GIF whose pixel (x, y) has index (x + y) % 4, on a screen of the same size.
void write_palette_gif(const std::string& path, int width, int height) {
  GifColorType colors[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  int error = 0;
  GifFileType* gif = EGifOpenFileName(path.c_str(), false, &error);
  ASSERT_NE(gif, nullptr);
  ColorMapObject* map = GifMakeMapObject(4, colors);
  EGifPutScreenDesc(gif, width, height, 2, 0, map);
  EGifPutImageDesc(gif, 0, 0, width, height, false, nullptr);
  std::vector<GifPixelType> row(width);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) row[x] = static_cast<GifPixelType>((x + y) % 4);
    EGifPutLine(gif, row.data(), width);
  }
  EGifCloseFile(gif, &error);
  GifFreeMapObject(map);
}

TEST(DecodeImage, PaletteGifMapsThroughPalette) {
  TempDir dir;
  write_palette_gif(dir.file("g.jpg"), 7, 5);
  Decoded d = decode_image(read_bytes(dir.file("g.jpg")));
  ASSERT_TRUE(d.ok()) << d.error;
  ASSERT_EQ(d.bgr.size(), cv::Size(7, 5));
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // red, as BGR
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(0, 1), cv::Vec3b(0, 255, 0));
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(3, 0), cv::Vec3b(30, 20, 10));  // index 3
}

// PIL writes CMYK JPEGs the Adobe way (inverted values); PIL's own convert("RGB") is the reference.
TEST(DecodeImage, CmykJpegMatchesPil) {
  if (!loader_test::python_has("PIL")) GTEST_SKIP() << "no PIL in the system Python";
  TempDir dir;
  cv::imwrite(dir.file("rgb.png"), test_image(48, 32));
  ASSERT_TRUE(loader_test::run_python(
      "from PIL import Image\n"
      "Image.open('" +
      dir.file("rgb.png") + "').convert('CMYK').save('" + dir.file("cmyk.jpg") +
      "', quality=95)\n"
      "im = Image.open('" +
      dir.file("cmyk.jpg") +
      "')\n"
      "assert im.mode == 'CMYK'\n"
      "im.convert('RGB').save('" +
      dir.file("pil.png") + "')\n"));
  Decoded d = decode_image(read_bytes(dir.file("cmyk.jpg")));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_LE(max_difference(d.bgr, cv::imread(dir.file("pil.png"))), 2);
}

TEST(DecodeImage, TruncatedJpegIsRefused) {
  std::vector<uint8_t> bytes = encode(".jpg", test_image(64, 64));
  bytes.resize(bytes.size() / 2);
  EXPECT_FALSE(decode_image(bytes).ok());
}

TEST(DecodeImage, JpegWithBytesAfterEndMarkerDecodes) {
  std::vector<uint8_t> bytes = encode(".jpg", test_image(16, 16));
  bytes.insert(bytes.end(), {0, 0, 1, 2});
  EXPECT_TRUE(decode_image(bytes).ok());
}

TEST(DecodeImage, TruncatedPngIsRefused) {
  std::vector<uint8_t> bytes = encode(".png", test_image(64, 64));
  bytes.resize(bytes.size() / 2);
  EXPECT_FALSE(decode_image(bytes).ok());
}

TEST(DecodeImage, TruncatedGifIsRefused) {
  TempDir dir;
  write_palette_gif(dir.file("g.gif"), 64, 64);
  std::vector<uint8_t> bytes = read_bytes(dir.file("g.gif"));
  bytes.resize(bytes.size() / 2);
  EXPECT_FALSE(decode_image(bytes).ok());
}

TEST(DecodeImage, GarbageAndEmptyAreRefused) {
  std::vector<uint8_t> garbage(1000);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 37);
  EXPECT_FALSE(decode_image(garbage).ok());
  EXPECT_FALSE(decode_image({}).ok());
  std::vector<uint8_t> jpeg_header_only = {0xFF, 0xD8, 0xFF, 0xE0};
  EXPECT_FALSE(decode_image(jpeg_header_only).ok());
}

TEST(DecodeImage, ReducedJpegHalvesEachSideRoundingUp) {
  Decoded d = decode_image(encode(".jpg", test_image(101, 60)), 2);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.size(), cv::Size(51, 30));
}

TEST(PeekImageSize, MatchesDecodedSizeForEachFormat) {
  TempDir dir;
  write_palette_gif(dir.file("g.gif"), 13, 9);
  EXPECT_EQ(peek_image_size(read_bytes(dir.file("g.gif"))), cv::Size(13, 9));
  EXPECT_EQ(peek_image_size(encode(".jpg", test_image(33, 21))), cv::Size(33, 21));
  EXPECT_EQ(peek_image_size(encode(".png", test_image(17, 5))), cv::Size(17, 5));
  EXPECT_EQ(peek_image_size(std::vector<uint8_t>{1, 2, 3}), std::nullopt);
}

TEST(ReadFile, MissingFileNamesIt) {
  std::vector<uint8_t> bytes;
  std::string error = read_file("/nonexistent/x.jpg", &bytes);
  EXPECT_NE(error.find("/nonexistent/x.jpg"), std::string::npos);
}

TEST(ReadFile, ReadsWholeFile) {
  TempDir dir;
  std::vector<uint8_t> data(100000, 7);
  write_bytes(dir.file("f"), data);
  std::vector<uint8_t> bytes;
  EXPECT_EQ(read_file(dir.file("f"), &bytes), "");
  EXPECT_EQ(bytes, data);
}

}  // namespace
}  // namespace loader
