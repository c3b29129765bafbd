#include "loader/encode.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <png.h>

#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "common/c_text.h"

namespace loader {
namespace {

// Both libraries report errors through a callback that must not return: it jumps back to the
// encoder with the message. C++ objects live in the Job structs, outside the frames calling setjmp.
struct JpegEncodeJob {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr errors{};
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
  unsigned char* buffer = nullptr;  // jpeg_mem_dest's, freed here
  unsigned long size = 0;

  JpegEncodeJob() {
    cinfo.err = jpeg_std_error(&errors);
    errors.error_exit = [](j_common_ptr c) {
      auto* job = reinterpret_cast<JpegEncodeJob*>(c->client_data);
      c->err->format_message(c, job->message);
      std::longjmp(job->jump, 1);
    };
    jpeg_create_compress(&cinfo);
    cinfo.client_data = this;
  }
  ~JpegEncodeJob() {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
  }
  JpegEncodeJob(const JpegEncodeJob&) = delete;
  JpegEncodeJob& operator=(const JpegEncodeJob&) = delete;
};

bool run_jpeg_encode(JpegEncodeJob* job, const cv::Mat& image, int quality) {
  jpeg_compress_struct& cinfo = job->cinfo;
  if (setjmp(job->jump)) return false;
  jpeg_mem_dest(&cinfo, &job->buffer, &job->size);
  cinfo.image_width = static_cast<JDIMENSION>(image.cols);
  cinfo.image_height = static_cast<JDIMENSION>(image.rows);
  const bool gray = image.channels() == 1;
  cinfo.input_components = gray ? 1 : 3;
  cinfo.in_color_space = gray ? JCS_GRAYSCALE : JCS_EXT_BGR;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, /*force_baseline=*/TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.ptr<uint8_t>(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  return true;
}

struct PngEncodeJob {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::jmp_buf jump;
  std::string error;
  std::vector<uint8_t>* out = nullptr;
  std::vector<uint8_t> row;  // one row in the file's layout (RGB order, big-endian samples)

  PngEncodeJob() {
    png = png_create_write_struct(
        PNG_LIBPNG_VER_STRING, this,
        [](png_structp p, png_const_charp message) {
          auto* job = static_cast<PngEncodeJob*>(png_get_error_ptr(p));
          job->error = "PNG: " + common::ErrorText(message, 0);
          std::longjmp(job->jump, 1);
        },
        [](png_structp, png_const_charp) {});
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngEncodeJob() { png_destroy_write_struct(&png, &info); }
  PngEncodeJob(const PngEncodeJob&) = delete;
  PngEncodeJob& operator=(const PngEncodeJob&) = delete;
};

// One row of `image` in PNG's order: RGB(A) instead of BGR(A), 16-bit samples big-endian.
void png_row(const cv::Mat& image, int y, std::vector<uint8_t>* row) {
  const int channels = image.channels();
  const bool wide = image.depth() == CV_16U;
  const uint8_t* in8 = image.ptr<uint8_t>(y);
  const uint16_t* in16 = image.ptr<uint16_t>(y);
  size_t at = 0;
  for (int x = 0; x < image.cols; ++x) {
    for (int c = 0; c < channels; ++c) {
      // BGR(A) -> RGB(A): swap the first and third channels.
      const int from = channels >= 3 && c < 3 ? 2 - c : c;
      const size_t index = size_t(x) * channels + from;
      if (wide) {
        (*row)[at++] = static_cast<uint8_t>(in16[index] >> 8);
        (*row)[at++] = static_cast<uint8_t>(in16[index] & 0xff);
      } else {
        (*row)[at++] = in8[index];
      }
    }
  }
}

bool run_png_encode(PngEncodeJob* job, const cv::Mat& image) {
  if (setjmp(job->jump)) return false;
  png_set_write_fn(
      job->png, job,
      [](png_structp p, png_bytep data, size_t size) {
        auto* j = static_cast<PngEncodeJob*>(png_get_io_ptr(p));
        j->out->insert(j->out->end(), data, data + size);
      },
      nullptr);
  const int channels = image.channels();
  const int color_type = channels == 1   ? PNG_COLOR_TYPE_GRAY
                         : channels == 3 ? PNG_COLOR_TYPE_RGB
                                         : PNG_COLOR_TYPE_RGB_ALPHA;
  const int bit_depth = image.depth() == CV_16U ? 16 : 8;
  png_set_IHDR(job->png, job->info, static_cast<png_uint_32>(image.cols),
               static_cast<png_uint_32>(image.rows), bit_depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(job->png, job->info);
  for (int y = 0; y < image.rows; ++y) {
    png_row(image, y, &job->row);
    png_write_row(job->png, job->row.data());
  }
  png_write_end(job->png, nullptr);
  return true;
}

}  // namespace

std::string encode_jpeg(const cv::Mat& image, int quality, std::vector<uint8_t>* out) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3)) {
    return "JPEG: only 8-bit gray or BGR images are encoded";
  }
  if (quality < 1 || quality > 100) return "JPEG: quality must be 1 to 100";
  JpegEncodeJob job;
  if (!run_jpeg_encode(&job, image, quality)) return std::string("JPEG: ") + job.message;
  out->assign(job.buffer, job.buffer + job.size);
  return {};
}

std::string encode_png(const cv::Mat& image, std::vector<uint8_t>* out) {
  const int channels = image.channels();
  if (image.empty() || (image.depth() != CV_8U && image.depth() != CV_16U) ||
      (channels != 1 && channels != 3 && channels != 4)) {
    return "PNG: only 8 or 16-bit gray, BGR or BGRA images are encoded";
  }
  PngEncodeJob job;
  if (job.png == nullptr || job.info == nullptr) return "PNG: out of memory";
  out->clear();
  job.out = out;
  try {
    job.row.resize(size_t(image.cols) * channels * image.elemSize1());
    if (!run_png_encode(&job, image)) return job.error;
  } catch (const std::exception& e) {  // the output's growth
    return std::string("PNG: ") + e.what();
  }
  return {};
}

}  // namespace loader
