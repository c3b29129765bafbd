#include "loader/decode.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <gif_lib.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <opencv2/imgproc.hpp>
#include <sstream>

#include "test_util.h"

namespace loader {
namespace {

using loader_test::read_bytes;
using loader_test::TempDir;
using loader_test::test_image;
using loader_test::write_bytes;

using loader_test::jpeg_bytes;
using loader_test::png_bytes;
using loader_test::read_ppm;

double max_difference(const cv::Mat& a, const cv::Mat& b) {
  double max = 0;
  cv::minMaxLoc(cv::abs(a - b), nullptr, &max);
  return max;
}

TEST(DecodeImage, ColourJpeg) {
  Decoded d = decode_image(jpeg_bytes(test_image(50, 30)));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.size(), cv::Size(50, 30));
  EXPECT_EQ(d.bgr.type(), CV_8UC3);
}

TEST(DecodeImage, GrayscaleJpegBecomesThreeEqualChannels) {
  cv::Mat gray;
  cv::cvtColor(test_image(40, 20), gray, cv::COLOR_BGR2GRAY);
  Decoded d = decode_image(jpeg_bytes(gray));
  ASSERT_TRUE(d.ok()) << d.error;
  std::vector<cv::Mat> channels;
  cv::split(d.bgr, channels);
  EXPECT_EQ(max_difference(channels[0], channels[1]), 0);
  EXPECT_EQ(max_difference(channels[0], channels[2]), 0);
}

TEST(DecodeImage, PngAlphaIsDroppedWithoutCompositing) {
  cv::Mat bgra(10, 12, CV_8UC4, cv::Scalar(10, 20, 200, 0));  // fully transparent red
  Decoded d = decode_image(png_bytes(bgra));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(5, 5), cv::Vec3b(10, 20, 200));
}

TEST(DecodeImage, GrayPngIsReplicated) {
  cv::Mat gray(8, 9, CV_8U, cv::Scalar(77));
  Decoded d = decode_image(png_bytes(gray));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(3, 3), cv::Vec3b(77, 77, 77));
}

// Every PNG layout PIL reads, written by PIL itself or by libpng (16-bit colour), decodes to PIL's
// convert("RGB") pixels: palettes with and without tRNS and at 4 bits, 1-bit, gray with and
// without alpha or tRNS, 16-bit gray (clamped, as PIL opens it as integers), 16-bit RGB and RGBA.
TEST(DecodeImage, PngLayoutsEqualPil) {
  if (!loader_test::python_has("PIL, numpy"))
    GTEST_SKIP() << "no PIL or NumPy in the system Python";
  TempDir dir;
  const cv::Mat image = test_image(37, 23, 5);
  write_bytes(dir.file("rgb.png"), png_bytes(image));
  cv::Mat bgra;
  cv::cvtColor(image, bgra, cv::COLOR_BGR2BGRA);
  bgra.forEach<cv::Vec4b>([](cv::Vec4b& p, const int* at) { p[3] = uint8_t(at[1] * 11); });
  write_bytes(dir.file("rgba.png"), png_bytes(bgra));
  cv::Mat wide;
  image.convertTo(wide, CV_16UC3, 257.0);
  wide.forEach<cv::Vec3w>([](cv::Vec3w& p, const int* at) { p[0] += uint16_t(at[1] * 3); });
  write_bytes(dir.file("rgb16.png"), png_bytes(wide));
  cv::Mat wide_alpha;
  cv::cvtColor(wide, wide_alpha, cv::COLOR_BGR2BGRA);
  write_bytes(dir.file("rgba16.png"), png_bytes(wide_alpha));
  const std::string layouts[] = {"rgb",    "rgba",   "rgb16",     "rgba16", "L",
                                 "LA",     "L_trns", "bilevel",   "P",      "P_trns",
                                 "P_4bit", "gray16", "gray16_low"};
  std::ostringstream script;
  script << "import numpy as np\nfrom PIL import Image\nd = '" << dir.path() << "/'\n"
         << "rgb = Image.open(d + 'rgb.png').convert('RGB')\n"
         << "rgb.convert('L').save(d + 'L.png')\n"
         << "rgb.convert('LA').save(d + 'LA.png')\n"
         << "rgb.convert('L').save(d + 'L_trns.png', transparency=128)\n"
         << "rgb.convert('1').save(d + 'bilevel.png')\n"
         << "rgb.convert('P', palette=Image.ADAPTIVE, colors=200).save(d + 'P.png')\n"
         << "rgb.convert('P', palette=Image.ADAPTIVE).save(d + 'P_trns.png', transparency=3)\n"
         << "rgb.convert('P', palette=Image.ADAPTIVE, colors=16).save(d + 'P_4bit.png', bits=4)\n"
         << "g = np.arange(37 * 23, dtype=np.uint16).reshape(23, 37)\n"
         << "Image.fromarray(g * 70, 'I;16').save(d + 'gray16.png')\n"
         << "Image.fromarray(g % 300, 'I;16').save(d + 'gray16_low.png')\n"
         << "for n in "
         << "['rgb','rgba','rgb16','rgba16','L','LA','L_trns','bilevel','P',"
         << "'P_trns','P_4bit','gray16','gray16_low']:\n"
         << "    Image.open(d + n + '.png').convert('RGB').save(d + n + '.ppm')\n";
  ASSERT_TRUE(loader_test::run_python(script.str()));
  for (const std::string& layout : layouts) {
    Decoded d = decode_image(read_bytes(dir.file(layout + ".png")));
    ASSERT_TRUE(d.ok()) << layout << ": " << d.error;
    const cv::Mat pil = read_ppm(dir.file(layout + ".ppm"));
    ASSERT_FALSE(pil.empty()) << layout;
    EXPECT_EQ(d.bgr.size(), cv::Size(37, 23)) << layout;
    EXPECT_EQ(max_difference(d.bgr, pil), 0) << layout;
  }
}

// The PNG chunk at `at` (length, type, data, CRC) with its CRC made right again after an edit.
void fix_png_crc(std::vector<uint8_t>* bytes, size_t at) {
  const uint32_t length = uint32_t((*bytes)[at]) << 24 | (*bytes)[at + 1] << 16 |
                          (*bytes)[at + 2] << 8 | (*bytes)[at + 3];
  const uint32_t crc = static_cast<uint32_t>(crc32(0, bytes->data() + at + 4, length + 4));
  for (int i = 0; i < 4; ++i) (*bytes)[at + 8 + length + i] = uint8_t(crc >> (24 - 8 * i));
}

TEST(DecodeImage, DamagedPngIsAnErrorNamingTheCause) {
  const std::vector<uint8_t> good = png_bytes(test_image(64, 48));
  const size_t idat = std::string(good.begin(), good.end()).find("IDAT") - 4;
  std::vector<uint8_t> bad_crc = good;
  bad_crc[idat + 8 + 20] ^= 0x55;
  Decoded d = decode_image(bad_crc);
  EXPECT_FALSE(d.ok());
  EXPECT_TRUE(d.bgr.empty());
  EXPECT_NE(d.error.find("PNG: "), std::string::npos) << d.error;

  std::vector<uint8_t> bad_data = bad_crc;  // the same damage with a matching CRC: zlib notices
  fix_png_crc(&bad_data, idat);
  d = decode_image(bad_data);
  EXPECT_FALSE(d.ok());
  EXPECT_NE(d.error.find("PNG: "), std::string::npos) << d.error;
}

TEST(DecodeImage, PngHeaderClaimingAHugeImageIsRefused) {
  std::vector<uint8_t> bytes = png_bytes(test_image(40, 24));
  for (int i : {16, 17, 18, 19, 20, 21, 22, 23}) bytes[i] = i % 4 < 2 ? 0x00 : 0xFF;  // 65535^2
  fix_png_crc(&bytes, 8);
  Decoded d = decode_image(bytes);
  EXPECT_FALSE(d.ok());
  EXPECT_NE(d.error.find("too large"), std::string::npos) << d.error;
}

TEST(DecodeImage, OtherFormatsAreRefusedByName) {
  const std::vector<uint8_t> bmp = {'B', 'M', 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0};
  Decoded d = decode_image(bmp);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.error, "not a JPEG, PNG or GIF image");
}

// Writes a palette GIF whose pixel (x, y) has index (x + y) % 4, on a screen of the same size;
// `frames` > 1 adds frames of index 1 after it, as an animation.
void write_palette_gif(const std::string& path, int width, int height, int frames = 1) {
  GifColorType colors[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  int error = 0;
  GifFileType* gif = EGifOpenFileName(path.c_str(), false, &error);
  ASSERT_NE(gif, nullptr);
  ColorMapObject* map = GifMakeMapObject(4, colors);
  EGifPutScreenDesc(gif, width, height, 2, 0, map);
  std::vector<GifPixelType> row(width);
  for (int frame = 0; frame < frames; ++frame) {
    EGifPutImageDesc(gif, 0, 0, width, height, false, nullptr);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) row[x] = static_cast<GifPixelType>(frame ? 1 : (x + y) % 4);
      EGifPutLine(gif, row.data(), width);
    }
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

TEST(DecodeImage, GifScreenClaimingAHugeImageIsRefused) {
  TempDir dir;
  write_palette_gif(dir.file("g.gif"), 7, 5);
  std::vector<uint8_t> bytes = read_bytes(dir.file("g.gif"));
  for (int i : {6, 7, 8, 9}) bytes[i] = 0xFF;  // the logical screen: 65535 x 65535
  Decoded d = decode_image(bytes);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.error, "GIF: image too large");
}

// PIL decodes the first frame alone; a later frame is never read, so its damage does not matter.
TEST(DecodeImage, AnimatedGifDecodesItsFirstFrameWhateverFollows) {
  TempDir dir;
  write_palette_gif(dir.file("g.gif"), 16, 8, /*frames=*/2);
  std::vector<uint8_t> bytes = read_bytes(dir.file("g.gif"));
  bytes.resize(bytes.size() - 12);  // the second frame cut short
  Decoded d = decode_image(bytes);
  ASSERT_TRUE(d.ok()) << d.error;
  ASSERT_EQ(d.bgr.size(), cv::Size(16, 8));
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));   // the first frame's red
  EXPECT_EQ(d.bgr.at<cv::Vec3b>(2, 1), cv::Vec3b(30, 20, 10));  // index 3
}

// An interlaced 6 x 10 frame at (2, 1) on a 10 x 12 screen, row j of the frame in colour j % 3,
// with a graphics control block making index 3 transparent: PIL paints the rest of the screen
// with the transparent index.
TEST(DecodeImage, InterlacedGifFrameOnALargerScreenWithATransparentIndex) {
  TempDir dir;
  GifColorType colors[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  int error = 0;
  GifFileType* gif = EGifOpenFileName(dir.file("g.gif").c_str(), false, &error);
  ASSERT_NE(gif, nullptr);
  ColorMapObject* map = GifMakeMapObject(4, colors);
  EGifPutScreenDesc(gif, 10, 12, 2, 0, map);
  GraphicsControlBlock control{};
  control.TransparentColor = 3;
  GifByteType extension[4];
  const size_t length = EGifGCBToExtension(&control, extension);
  EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(length), extension);
  EGifPutImageDesc(gif, 2, 1, 6, 10, true, nullptr);
  std::vector<GifPixelType> row(6);
  for (auto [first, step] : {std::pair{0, 8}, {4, 8}, {2, 4}, {1, 2}}) {  // the interlaced order
    for (int y = first; y < 10; y += step) {
      std::fill(row.begin(), row.end(), static_cast<GifPixelType>(y % 3));
      EGifPutLine(gif, row.data(), 6);
    }
  }
  EGifCloseFile(gif, &error);
  GifFreeMapObject(map);

  Decoded d = decode_image(read_bytes(dir.file("g.gif")));
  ASSERT_TRUE(d.ok()) << d.error;
  ASSERT_EQ(d.bgr.size(), cv::Size(10, 12));
  const cv::Vec3b bgr[4] = {{0, 0, 255}, {0, 255, 0}, {255, 0, 0}, {30, 20, 10}};
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 10; ++x) {
      const bool in_frame = x >= 2 && x < 8 && y >= 1 && y < 11;
      ASSERT_EQ(d.bgr.at<cv::Vec3b>(y, x), in_frame ? bgr[(y - 1) % 3] : bgr[3]) << x << "," << y;
    }
  }
}

TEST(DecodeImage, GifFrameClaimingAHugeImageIsRefusedBeforeItsPixels) {
  TempDir dir;
  write_palette_gif(dir.file("g.gif"), 7, 5);
  std::vector<uint8_t> bytes = read_bytes(dir.file("g.gif"));
  // Header 6, screen 7, a palette of 4 colours 12: the image descriptor starts at byte 25.
  ASSERT_EQ(bytes[25], 0x2C);
  for (int i : {30, 31, 32, 33}) bytes[i] = 0xFF;  // the frame: 65535 x 65535
  Decoded d = decode_image(bytes);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.error, "GIF: image too large");
}

// PIL writes CMYK JPEGs the Adobe way (inverted values); PIL's own convert("RGB") is the reference.
TEST(DecodeImage, CmykJpegMatchesPil) {
  if (!loader_test::python_has("PIL")) GTEST_SKIP() << "no PIL in the system Python";
  TempDir dir;
  write_bytes(dir.file("rgb.png"), png_bytes(test_image(48, 32)));
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
      dir.file("pil.ppm") + "')\n"));
  Decoded d = decode_image(read_bytes(dir.file("cmyk.jpg")));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_LE(max_difference(d.bgr, read_ppm(dir.file("pil.ppm"))), 2);
}

TEST(DecodeImage, TruncatedJpegIsRefused) {
  std::vector<uint8_t> bytes = jpeg_bytes(test_image(64, 64));
  bytes.resize(bytes.size() / 2);
  EXPECT_FALSE(decode_image(bytes).ok());
}

TEST(DecodeImage, JpegWithBytesAfterEndMarkerDecodes) {
  std::vector<uint8_t> bytes = jpeg_bytes(test_image(16, 16));
  bytes.insert(bytes.end(), {0, 0, 1, 2});
  EXPECT_TRUE(decode_image(bytes).ok());
}

TEST(DecodeImage, TruncatedPngIsRefused) {
  std::vector<uint8_t> bytes = png_bytes(test_image(64, 64));
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
  Decoded d = decode_image(jpeg_bytes(test_image(101, 60)), 2);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.bgr.size(), cv::Size(51, 30));
}

// How a test JPEG is written with libjpeg, to reach the layouts OpenCV's and PIL's encoders leave
// out (4:4:0 and 4:1:1 sampling, restart intervals, YCCK).
struct JpegLayout {
  std::string name;
  int h = 2, v = 2;                 // luma sampling factors; chroma is 1x1
  J_COLOR_SPACE space = JCS_YCbCr;  // JCS_GRAYSCALE, JCS_YCbCr, JCS_CMYK or JCS_YCCK
  bool progressive = false;
  int restart_rows = 0;
};

std::vector<JpegLayout> jpeg_layouts() {
  return {{"420", 2, 2},
          {"422", 2, 1},
          {"440", 1, 2},
          {"444", 1, 1},
          {"411", 4, 1},
          {"420 progressive", 2, 2, JCS_YCbCr, true},
          {"420 restarts", 2, 2, JCS_YCbCr, false, 1},
          {"gray", 1, 1, JCS_GRAYSCALE},
          {"gray progressive", 1, 1, JCS_GRAYSCALE, true},
          {"cmyk", 1, 1, JCS_CMYK},
          {"ycck 420", 2, 2, JCS_YCCK}};
}

// Encodes `bgr` at quality 90 in `layout`. CMYK input is made from the image the Adobe way
// (inverted), which libjpeg marks with an Adobe segment.
std::vector<uint8_t> encode_layout(const cv::Mat& bgr, const JpegLayout& layout) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr errors;
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(bgr.cols);
  cinfo.image_height = static_cast<JDIMENSION>(bgr.rows);
  cv::Mat input;
  if (layout.space == JCS_GRAYSCALE) {
    cv::cvtColor(bgr, input, cv::COLOR_BGR2GRAY);
    cinfo.input_components = 1;
    cinfo.in_color_space = JCS_GRAYSCALE;
  } else if (layout.space == JCS_CMYK || layout.space == JCS_YCCK) {
    input.create(bgr.rows, bgr.cols, CV_8UC4);
    for (int y = 0; y < bgr.rows; ++y) {
      for (int x = 0; x < bgr.cols; ++x) {
        cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
        uint8_t k = std::min({255 - p[0], 255 - p[1], 255 - p[2]}) / 2;
        // Stored inverted: 255 - ink.
        input.at<cv::Vec4b>(y, x) = {uint8_t(255 - (255 - p[2] - k)),
                                     uint8_t(255 - (255 - p[1] - k)),
                                     uint8_t(255 - (255 - p[0] - k)), uint8_t(255 - k)};
      }
    }
    cinfo.input_components = 4;
    cinfo.in_color_space = JCS_CMYK;
  } else {
    cv::cvtColor(bgr, input, cv::COLOR_BGR2RGB);
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
  }
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, layout.space);
  jpeg_set_quality(&cinfo, 90, TRUE);
  cinfo.comp_info[0].h_samp_factor = layout.h;
  cinfo.comp_info[0].v_samp_factor = layout.v;
  for (int c = 1; c < cinfo.num_components; ++c) {
    // YCCK's K is sampled like luma.
    bool full = layout.space == JCS_CMYK || (layout.space == JCS_YCCK && c == 3);
    cinfo.comp_info[c].h_samp_factor = full ? layout.h : 1;
    cinfo.comp_info[c].v_samp_factor = full ? layout.v : 1;
  }
  if (layout.progressive) jpeg_simple_progression(&cinfo);
  cinfo.restart_in_rows = layout.restart_rows;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = input.ptr<uint8_t>(static_cast<int>(cinfo.next_scanline));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> bytes(buffer, buffer + size);
  std::free(buffer);
  return bytes;
}

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && max_difference(a, b) == 0;
}

// PIL decodes every layout to the same pixels (PIL's libjpeg-turbo, JDCT_ISLOW, fancy upsampling,
// its CMYK formula); PIL's own convert("RGB") is the reference.
TEST(DecodeImage, JpegPixelsEqualPil) {
  if (!loader_test::python_has("PIL")) GTEST_SKIP() << "no PIL in the system Python";
  TempDir dir;
  std::vector<JpegLayout> layouts = jpeg_layouts();
  const cv::Size sizes[] = {{77, 53}, {64, 48}};
  std::string names;
  for (size_t i = 0; i < layouts.size(); ++i) {
    for (size_t s = 0; s < 2; ++s) {
      std::string name = "j" + std::to_string(i) + "_" + std::to_string(s);
      write_bytes(
          dir.file(name + ".jpg"),
          encode_layout(test_image(sizes[s].width, sizes[s].height, uint32_t(i)), layouts[i]));
      names += "'" + name + "',";
    }
  }
  ASSERT_TRUE(loader_test::run_python("from PIL import Image\nfor n in [" + names +
                                      "]:\n"
                                      "    Image.open('" +
                                      dir.path() + "/' + n + '.jpg').convert('RGB').save('" +
                                      dir.path() + "/' + n + '.ppm')\n"));
  for (size_t i = 0; i < layouts.size(); ++i) {
    for (size_t s = 0; s < 2; ++s) {
      std::string name = "j" + std::to_string(i) + "_" + std::to_string(s);
      Decoded d = decode_image(read_bytes(dir.file(name + ".jpg")));
      ASSERT_TRUE(d.ok()) << layouts[i].name << ": " << d.error;
      EXPECT_EQ(d.warnings, 0);
      EXPECT_TRUE(same_pixels(d.bgr, read_ppm(dir.file(name + ".ppm"))))
          << layouts[i].name << " " << sizes[s];
    }
  }
}

TEST(DecodeImage, ExtraneousBytesBeforeEndMarkerAreAWarning) {
  std::vector<uint8_t> bytes = encode_layout(test_image(40, 24), jpeg_layouts()[0]);
  ASSERT_EQ(bytes[bytes.size() - 2], 0xFF);
  bytes.insert(bytes.end() - 2, {0x12, 0x34, 0x56});
  Decoded d = decode_image(bytes);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_GE(d.warnings, 1);
  EXPECT_TRUE(
      same_pixels(d.bgr, decode_image(encode_layout(test_image(40, 24), jpeg_layouts()[0])).bgr));
}

TEST(DecodeImage, LibjpegErrorIsReturnedNotFatal) {
  std::vector<uint8_t> bytes = encode_layout(test_image(40, 24), jpeg_layouts()[0]);
  const uint8_t sof0[] = {0xFF, 0xC0};
  auto sof = std::search(bytes.begin(), bytes.end(), std::begin(sof0), std::end(sof0));
  ASSERT_NE(sof, bytes.end());
  sof[4] = 7;  // sample precision: libjpeg-turbo decodes 8 bits only
  Decoded d = decode_image(bytes);
  EXPECT_FALSE(d.ok());
  EXPECT_NE(d.error.find("JPEG"), std::string::npos) << d.error;
  EXPECT_TRUE(d.bgr.empty());
  EXPECT_FALSE(decode_image_region(bytes, {0, 0, 8, 8}).ok());
}

TEST(DecodeImage, HeaderClaimingAHugeImageIsRefused) {
  std::vector<uint8_t> bytes = encode_layout(test_image(40, 24), jpeg_layouts()[0]);
  const uint8_t sof0[] = {0xFF, 0xC0};
  auto sof = std::search(bytes.begin(), bytes.end(), std::begin(sof0), std::end(sof0));
  ASSERT_NE(sof, bytes.end());
  for (int i : {5, 6, 7, 8}) sof[i] = i % 2 ? 0xFF : 0xDC;  // 65500 x 65500, 4.3 gigapixels
  Decoded d = decode_image(bytes);
  EXPECT_FALSE(d.ok());
  EXPECT_NE(d.error.find("too large"), std::string::npos) << d.error;
  EXPECT_FALSE(decode_image_region(bytes, {0, 0, 8, 8}).ok());
}

// Crops of every layout and size, touching each edge, straddling and hugging iMCU boundaries, or
// covering everything: the region decode's pixels equal the full decode's, and only the region's
// rows are produced.
TEST(DecodeImageRegion, EqualsFullDecodeCropped) {
  const cv::Size sizes[] = {{77, 53}, {203, 151}, {64, 48}};
  std::mt19937 rng(7);
  for (const JpegLayout& layout : jpeg_layouts()) {
    for (cv::Size size : sizes) {
      std::vector<uint8_t> bytes = encode_layout(test_image(size.width, size.height, 3), layout);
      Decoded full = decode_image(bytes);
      ASSERT_TRUE(full.ok()) << full.error;
      int w = size.width, h = size.height;
      std::vector<cv::Rect> regions = {
          {0, 0, w, h},         {0, 0, 1, 1},     {w - 1, h - 1, 1, 1}, {0, h - 9, w, 9},
          {w - 20, 0, 20, h},   {16, 16, 16, 16}, {15, 17, 17, 15},     {31, 33, w - 40, h - 40},
          {1, 1, w - 2, h - 2}, {8, 0, 1, h}};
      for (int i = 0; i < 20; ++i) {
        int rw = 1 + int(rng() % w), rh = 1 + int(rng() % h);
        regions.push_back({int(rng() % (w - rw + 1)), int(rng() % (h - rh + 1)), rw, rh});
      }
      for (const cv::Rect& region : regions) {
        Decoded part = decode_image_region(bytes, region);
        ASSERT_TRUE(part.ok()) << layout.name << " " << region << ": " << part.error;
        EXPECT_EQ(part.origin.y, region.y);
        EXPECT_EQ(part.bgr.rows, region.height);
        EXPECT_LE(part.origin.x, region.x);
        ASSERT_LE(region.x + region.width, part.origin.x + part.bgr.cols);
        EXPECT_TRUE(same_pixels(part.bgr(region - part.origin), full.bgr(region)))
            << layout.name << " " << size << " " << region;
      }
    }
  }
}

TEST(DecodeImageRegion, NarrowCropDecodesFewerColumns) {
  std::vector<uint8_t> bytes = encode_layout(test_image(400, 300), jpeg_layouts()[0]);
  Decoded part = decode_image_region(bytes, {200, 100, 10, 10});
  ASSERT_TRUE(part.ok()) << part.error;
  EXPECT_LT(part.bgr.cols, 64);
  EXPECT_EQ(part.bgr.rows, 10);
}

TEST(DecodeImageRegion, OtherFormatsDecodeWhole) {
  cv::Mat image = test_image(30, 20);
  Decoded part = decode_image_region(png_bytes(image), {5, 6, 7, 8});
  ASSERT_TRUE(part.ok()) << part.error;
  EXPECT_EQ(part.origin, cv::Point(0, 0));
  EXPECT_TRUE(same_pixels(part.bgr, image));
}

TEST(DecodeImageRegion, RegionOutsideTheImageIsRefused) {
  cv::Mat image = test_image(30, 20);
  for (const std::vector<uint8_t>& bytes : {png_bytes(image), jpeg_bytes(image)}) {
    EXPECT_FALSE(decode_image_region(bytes, {25, 0, 6, 5}).ok());
    EXPECT_FALSE(decode_image_region(bytes, {0, 16, 5, 5}).ok());
    EXPECT_FALSE(decode_image_region(bytes, {-1, 0, 5, 5}).ok());
    EXPECT_FALSE(decode_image_region(bytes, {0, 0, 0, 5}).ok());
  }
}

TEST(DecodeImageRegion, TruncatedJpegIsRefused) {
  std::vector<uint8_t> bytes = jpeg_bytes(test_image(64, 64));
  bytes.resize(bytes.size() / 2);
  EXPECT_FALSE(decode_image_region(bytes, {0, 0, 8, 8}).ok());
}

TEST(PeekImageSize, MatchesDecodedSizeForEachFormat) {
  TempDir dir;
  write_palette_gif(dir.file("g.gif"), 13, 9);
  EXPECT_EQ(peek_image_size(read_bytes(dir.file("g.gif"))), cv::Size(13, 9));
  EXPECT_EQ(peek_image_size(jpeg_bytes(test_image(33, 21))), cv::Size(33, 21));
  EXPECT_EQ(peek_image_size(png_bytes(test_image(17, 5))), cv::Size(17, 5));
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
