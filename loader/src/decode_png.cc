#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <exception>
#include <memory>

#include "codecs.h"
#include "common/c_text.h"

namespace loader::codecs {
namespace {

// libpng reports errors through its error function, which must not return: jump back to the
// decoder, as for libjpeg.
struct PngErrors {
  std::jmp_buf jump;
  std::string* message;  // where the error goes; set before any libpng call
};

void png_error_exit(png_structp png, png_const_charp message) {
  auto* errors = static_cast<PngErrors*>(png_get_error_ptr(png));
  *errors->message = "PNG: " + common::ErrorText(message, 0);
  std::longjmp(errors->jump, 1);
}

// Warnings (a damaged ancillary chunk, say) are ignored, as PIL ignores them; nothing is printed
// from worker threads.
void png_ignore_warning(png_structp, png_const_charp) {}

void read_png_bytes(png_structp png, png_bytep out, size_t wanted) {
  auto* reader = static_cast<MemoryReader*>(png_get_io_ptr(png));
  if (reader->bytes.size() - reader->at < wanted) png_error(png, "truncated file");
  std::memcpy(out, reader->bytes.data() + reader->at, wanted);
  reader->at += wanted;
}

// One PNG decode. As for JPEG, every C++ object the decode touches lives here, outside the frame
// that calls setjmp.
struct PngJob {
  MemoryReader reader;
  PngErrors errors{};
  Decoded result;
  std::vector<png_bytep> rows;
  std::vector<uint16_t> gray16;  // 16-bit gray samples, narrowed afterwards
  png_structp png = nullptr;
  png_infop info = nullptr;

  explicit PngJob(std::span<const uint8_t> bytes) : reader{bytes} {
    errors.message = &result.error;
    png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &errors, png_error_exit, png_ignore_warning);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngJob() { png_destroy_read_struct(&png, &info, nullptr); }
  PngJob(const PngJob&) = delete;
  PngJob& operator=(const PngJob&) = delete;
};

// PIL's convert("RGB") of each PNG layout, with libpng's transforms: a palette maps to its colours
// and tRNS transparency is ignored; alpha is dropped without compositing; 1, 2 and 4-bit gray
// scale up to 8 bits; 16-bit colour keeps the high byte of each sample, and 16-bit gray, which PIL
// opens as 32-bit integers, clamps at 255. No gamma is applied (PIL applies none).
bool run_png(PngJob* job) {
  png_structp png = job->png;
  png_infop info = job->info;
  if (setjmp(job->errors.jump)) return false;
  png_set_read_fn(png, &job->reader, read_png_bytes);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  if (uint64_t(width) * height > kMaxPixels) {
    job->result.error = "PNG: image too large";
    return false;
  }
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  const bool gray = (color_type & PNG_COLOR_MASK_COLOR) == 0;
  const bool wide_gray = gray && bit_depth == 16;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (gray && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_strip_alpha(png);
  if (!wide_gray) {
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_bgr(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  const size_t expected = size_t(width) * (wide_gray ? 2 : 3);
  if (row_bytes != expected) {
    job->result.error = "PNG: unexpected row layout";
    return false;
  }
  cv::Mat& image = job->result.bgr;
  image.create(static_cast<int>(height), static_cast<int>(width), CV_8UC3);
  job->rows.resize(height);
  if (wide_gray) job->gray16.resize(size_t(width) * height);
  for (png_uint_32 y = 0; y < height; ++y) {
    job->rows[y] = wide_gray ? reinterpret_cast<png_bytep>(job->gray16.data() + size_t(y) * width)
                             : image.ptr<uint8_t>(static_cast<int>(y));
  }
  png_read_image(png, job->rows.data());
  png_read_end(png, nullptr);
  return true;
}

void narrow_gray16(const std::vector<uint16_t>& samples, cv::Mat* bgr) {
  for (int y = 0; y < bgr->rows; ++y) {
    // libpng hands over the file's big-endian samples.
    const uint8_t* in = reinterpret_cast<const uint8_t*>(samples.data() + size_t(y) * bgr->cols);
    uint8_t* out = bgr->ptr<uint8_t>(y);
    for (int x = 0; x < bgr->cols; ++x, in += 2, out += 3) {
      const int value = in[0] << 8 | in[1];
      out[0] = out[1] = out[2] = static_cast<uint8_t>(std::min(value, 255));
    }
  }
}

}  // namespace

Decoded decode_png(std::span<const uint8_t> bytes) {
  PngJob job(bytes);
  if (job.png == nullptr || job.info == nullptr) return {{}, "PNG: out of memory"};
  bool ok = false;
  try {
    ok = run_png(&job);
  } catch (const std::exception& e) {  // the output's allocation
    job.result.error = std::string("PNG: ") + e.what();
  }
  if (ok && !job.gray16.empty()) narrow_gray16(job.gray16, &job.result.bgr);
  if (!ok) job.result.bgr.release();
  return std::move(job.result);
}
}  // namespace loader::codecs
