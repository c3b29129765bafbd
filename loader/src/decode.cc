#include "loader/decode.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <fcntl.h>
#include <gif_lib.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <exception>
#include <memory>

#include "common/c_text.h"

#ifndef JCS_EXTENSIONS
#error "libjpeg-turbo's colour space extensions (JCS_EXT_BGR) are needed"
#endif

namespace loader {
namespace {

bool starts_with(std::span<const uint8_t> bytes, std::string_view magic) {
  return bytes.size() >= magic.size() && std::memcmp(bytes.data(), magic.data(), magic.size()) == 0;
}

bool is_jpeg(std::span<const uint8_t> bytes) { return starts_with(bytes, "\xFF\xD8\xFF"); }
bool is_png(std::span<const uint8_t> bytes) { return starts_with(bytes, "\x89PNG\r\n\x1A\n"); }
bool is_gif(std::span<const uint8_t> bytes) {
  return starts_with(bytes, "GIF87a") || starts_with(bytes, "GIF89a");
}

uint32_t big_endian(std::span<const uint8_t> bytes, size_t at, int width) {
  uint32_t value = 0;
  for (int i = 0; i < width; ++i) value = value << 8 | bytes[at + i];
  return value;
}

// Walks the JPEG marker segments up to the first start-of-scan. Calls on_segment(marker, payload
// offset, payload length) for each; returns the offset of the SOS payload, or 0 if there is none.
template <typename OnSegment>
size_t walk_jpeg_header(std::span<const uint8_t> bytes, OnSegment on_segment) {
  size_t at = 2;
  while (at + 4 <= bytes.size()) {
    if (bytes[at] != 0xFF) return 0;
    uint8_t marker = bytes[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no payload
      at += 2;
      continue;
    }
    size_t length = big_endian(bytes, at + 2, 2);
    if (length < 2 || at + 2 + length > bytes.size()) return 0;
    if (marker == 0xDA) return at + 4;
    if (!on_segment(marker, at + 4, length - 2)) return 0;
    at += 2 + length;
  }
  return 0;
}

// Entropy-coded data never holds FF D9 (a data FF is followed by 00 or a restart code), so a
// complete JPEG has its end-of-image marker after the first scan starts; trailing bytes after it
// are tolerated, as by libjpeg and PIL.
bool jpeg_is_complete(std::span<const uint8_t> bytes) {
  size_t scan = walk_jpeg_header(bytes, [](uint8_t, size_t, size_t) { return true; });
  if (scan == 0) return false;
  for (size_t at = bytes.size() - 1; at > scan; --at) {
    if (bytes[at] == 0xD9 && bytes[at - 1] == 0xFF) return true;
  }
  return false;
}

std::optional<cv::Size> jpeg_size(std::span<const uint8_t> bytes) {
  std::optional<cv::Size> size;
  walk_jpeg_header(bytes, [&](uint8_t marker, size_t payload, size_t length) {
    bool is_frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (!is_frame) return true;
    if (length >= 5) {
      size = cv::Size(static_cast<int>(big_endian(bytes, payload + 3, 2)),
                      static_cast<int>(big_endian(bytes, payload + 1, 2)));
    }
    return false;
  });
  if (size && (size->width <= 0 || size->height <= 0)) return std::nullopt;
  return size;
}

struct MemoryReader {
  std::span<const uint8_t> bytes;
  size_t at = 0;
};

int read_gif_bytes(GifFileType* gif, GifByteType* out, int wanted) {
  auto* reader = static_cast<MemoryReader*>(gif->UserData);
  size_t n = std::min(static_cast<size_t>(wanted), reader->bytes.size() - reader->at);
  std::memcpy(out, reader->bytes.data() + reader->at, n);
  reader->at += n;
  return static_cast<int>(n);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error;
    DGifCloseFile(gif, &error);
  }
};

// A forged header could claim 65500 x 65500 pixels; refuse more than OpenCV's imdecode accepts
// (its CV_IO_MAX_IMAGE_PIXELS default).
constexpr uint64_t kMaxPixels = uint64_t(1) << 30;

// Reads records up to the first image and that image's pixels, and nothing after it: PIL's
// first frame, without decoding (or allocating for) an animation's later frames, whose sizes a
// forged file may set to anything. The frame's size is checked before its pixels are allocated;
// the graphics control block before it, if any, goes to `control`.
std::string read_first_gif_frame(GifFileType* gif, std::unique_ptr<GifPixelType[]>* pixels,
                                 GraphicsControlBlock* control) {
  const auto failed = [gif] { return "GIF: " + common::ErrorText(GifErrorString(gif->Error), 0); };
  control->TransparentColor = NO_TRANSPARENT_COLOR;
  while (true) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR) return failed();
    if (type == TERMINATE_RECORD_TYPE) return "GIF: no image";
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif, &code, &block) == GIF_ERROR) return failed();
      if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr) {
        DGifExtensionToGCB(block[0], block + 1, control);
      }
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) return failed();
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif) == GIF_ERROR) return failed();
    const GifImageDesc& desc = gif->Image;
    if (desc.Width <= 0 || desc.Height <= 0) return "GIF: empty image";
    if (uint64_t(desc.Width) * uint64_t(desc.Height) > kMaxPixels) return "GIF: image too large";
    *pixels = std::make_unique_for_overwrite<GifPixelType[]>(size_t(desc.Width) * desc.Height);
    // An interlaced image sends every 8th row from 0, every 8th from 4, every 4th from 2, then
    // every 2nd from 1.
    const int first_row[] = {0, 4, 2, 1}, row_step[] = {8, 8, 4, 2};
    for (int pass = 0; pass < (desc.Interlace ? 4 : 1); ++pass) {
      const int first = desc.Interlace ? first_row[pass] : 0,
                step = desc.Interlace ? row_step[pass] : 1;
      for (int y = first; y < desc.Height; y += step) {
        if (DGifGetLine(gif, pixels->get() + size_t(y) * desc.Width, desc.Width) == GIF_ERROR) {
          return failed();
        }
      }
    }
    return "";
  }
}

// PIL paints the first frame on a canvas of the logical screen's size filled with the
// transparent index if the frame has one, else index 0, and maps the indices through the palette.
Decoded decode_gif(std::span<const uint8_t> bytes) {
  MemoryReader reader{bytes};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_gif_bytes, &error));
  if (!gif) return {{}, "GIF: " + common::ErrorText(GifErrorString(error), 0)};
  // The canvas is the logical screen: a forged one (65535 x 65535) would be a 4 GiB allocation.
  if (uint64_t(gif->SWidth) * uint64_t(gif->SHeight) > kMaxPixels) {
    return {{}, "GIF: image too large"};
  }
  std::unique_ptr<GifPixelType[]> raster;
  GraphicsControlBlock control{};
  if (std::string failure = read_first_gif_frame(gif.get(), &raster, &control); !failure.empty()) {
    return {{}, failure};
  }
  const GifImageDesc& desc = gif->Image;
  const ColorMapObject* palette = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
  if (palette == nullptr) return {{}, "GIF: no palette"};

  int width = gif->SWidth > 0 ? gif->SWidth : desc.Width;
  int height = gif->SHeight > 0 ? gif->SHeight : desc.Height;
  if (uint64_t(width) * uint64_t(height) > kMaxPixels) return {{}, "GIF: image too large"};
  int background = std::max(control.TransparentColor, 0);
  cv::Mat indices(height, width, CV_8U, cv::Scalar(background));
  for (int y = std::max(desc.Top, 0); y < std::min(desc.Top + desc.Height, height); ++y) {
    for (int x = std::max(desc.Left, 0); x < std::min(desc.Left + desc.Width, width); ++x) {
      indices.at<uint8_t>(y, x) = raster[size_t(y - desc.Top) * desc.Width + (x - desc.Left)];
    }
  }
  cv::Mat bgr(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    const uint8_t* in = indices.ptr<uint8_t>(y);
    uint8_t* out = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < width; ++x, out += 3) {
      GifColorType c = in[x] < palette->ColorCount ? palette->Colors[in[x]] : GifColorType{0, 0, 0};
      out[0] = c.Blue;
      out[1] = c.Green;
      out[2] = c.Red;
    }
  }
  return {bgr, ""};
}

// libjpeg reports errors through error_exit, which must not return: jump back to the decoder.
struct JpegErrors {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  cinfo->err->format_message(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings (level < 0: corrupt data libjpeg recovered from) are counted and otherwise ignored, as
// PIL ignores them; trace messages are dropped. Nothing is printed from worker threads.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) ++cinfo->err->num_warnings;
}

// One JPEG decode. Every C++ object the decode touches lives here, outside the frame that calls
// setjmp, so a longjmp from libjpeg skips no destructor.
struct JpegJob {
  std::span<const uint8_t> bytes;
  int reduce = 1;
  const cv::Rect* region = nullptr;  // full-size pixels; nullptr: the whole image
  jpeg_decompress_struct cinfo{};
  JpegErrors errors{};
  Decoded result;
  std::vector<JSAMPROW> rows;
  std::vector<uint8_t> cmyk;  // one row of libjpeg's CMYK output

  JpegJob() {
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = jpeg_error_exit;
    errors.pub.emit_message = jpeg_emit_message;
    jpeg_create_decompress(&cinfo);
  }
  ~JpegJob() { jpeg_destroy_decompress(&cinfo); }
  JpegJob(const JpegJob&) = delete;
  JpegJob& operator=(const JpegJob&) = delete;
};

// PIL reads 4-component JPEGs as Adobe's inverted CMYK ("CMYK;I": ink = 255 - sample) and
// converts with R = (255 - K) - (C * (255 - K) + 127) / 255 in its MULDIV255 arithmetic. libjpeg
// hands over the stored samples, so 255 - K is the K sample and C is 255 - the C sample.
void adobe_cmyk_to_bgr(const uint8_t* in, uint8_t* out, int width) {
  for (int x = 0; x < width; ++x, in += 4, out += 3) {
    int nk = in[3];
    for (int c = 0; c < 3; ++c) {
      int t = (255 - in[c]) * nk + 128;
      out[2 - c] = static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
    }
  }
}

// The libjpeg calls; false with job->result.error set on a libjpeg error. Kept free of C++
// objects with destructors (see JpegJob).
bool run_jpeg(JpegJob* job) {
  jpeg_decompress_struct& cinfo = job->cinfo;
  if (setjmp(job->errors.jump)) {
    job->result.error = std::string("JPEG: ") + job->errors.message;
    return false;
  }
  jpeg_mem_src(&cinfo, job->bytes.data(), job->bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  // JDCT_ISLOW and fancy upsampling are libjpeg's defaults and what PIL decodes with.
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
  if (job->reduce > 1) {
    cinfo.scale_num = 1;
    cinfo.scale_denom = static_cast<unsigned>(job->reduce);
  }
  if (uint64_t(cinfo.image_width) * cinfo.image_height > kMaxPixels) {
    job->result.error = "JPEG: image too large";
    return false;
  }
  jpeg_start_decompress(&cinfo);
  JDIMENSION first_row = 0, end_row = cinfo.output_height;
  if (const cv::Rect* region = job->region) {
    if (region->x < 0 || region->y < 0 || region->width <= 0 || region->height <= 0 ||
        JDIMENSION(region->x) + region->width > cinfo.output_width ||
        JDIMENSION(region->y) + region->height > cinfo.output_height) {
      job->result.error = "region outside the image";
      return false;
    }
    // Fancy upsampling treats the first and last decoded columns as image edges (replicating
    // chroma instead of blending with the neighbour), so keep one column of margin on each side:
    // the region's own pixels then equal a full decode's. libjpeg widens the range further, to
    // whole iMCU columns.
    JDIMENSION left = static_cast<JDIMENSION>(std::max(region->x - 1, 0));
    JDIMENSION right =
        std::min<JDIMENSION>(JDIMENSION(region->x) + region->width + 1, cinfo.output_width);
    JDIMENSION width = right - left;
    jpeg_crop_scanline(&cinfo, &left, &width);
    first_row = static_cast<JDIMENSION>(region->y);
    end_row = first_row + static_cast<JDIMENSION>(region->height);
    if (first_row > 0 && jpeg_skip_scanlines(&cinfo, first_row) != first_row) {
      job->result.error = "JPEG: could not skip to the region";
      return false;
    }
    job->result.origin = cv::Point(static_cast<int>(left), static_cast<int>(first_row));
  }
  cv::Mat& image = job->result.bgr;
  image.create(static_cast<int>(end_row - first_row), static_cast<int>(cinfo.output_width),
               CV_8UC3);
  if (cmyk) {
    job->cmyk.resize(size_t(4) * cinfo.output_width);
    JSAMPROW row = job->cmyk.data();
    while (cinfo.output_scanline < end_row) {
      int y = static_cast<int>(cinfo.output_scanline - first_row);
      if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
      adobe_cmyk_to_bgr(row, image.ptr<uint8_t>(y), image.cols);
    }
  } else {
    job->rows.resize(static_cast<size_t>(image.rows));
    for (int y = 0; y < image.rows; ++y) job->rows[y] = image.ptr<uint8_t>(y);
    while (cinfo.output_scanline < end_row) {
      JDIMENSION done = cinfo.output_scanline - first_row;
      if (jpeg_read_scanlines(&cinfo, job->rows.data() + done, end_row - cinfo.output_scanline) ==
          0)
        break;
    }
  }
  if (cinfo.output_scanline < end_row) {
    job->result.error = "JPEG: decoding stopped early";
    return false;
  }
  // Reading on to the end-of-image marker only checks what follows the last row, as PIL does;
  // a partial decode has no use for the rest of the file.
  if (end_row == cinfo.output_height) {
    jpeg_finish_decompress(&cinfo);
  } else {
    jpeg_abort_decompress(&cinfo);
  }
  return true;
}

Decoded decode_jpeg(std::span<const uint8_t> bytes, int reduce, const cv::Rect* region) {
  if (!jpeg_is_complete(bytes)) return {{}, "truncated JPEG"};
  JpegJob job;
  job.bytes = bytes;
  job.reduce = reduce;
  job.region = region;
  bool ok = false;
  try {
    ok = run_jpeg(&job);
  } catch (const std::exception& e) {  // the output's allocation
    job.result.error = std::string("JPEG: ") + e.what();
  }
  if (!ok) job.result.bgr.release();
  job.result.warnings = static_cast<int>(job.cinfo.err->num_warnings);
  return std::move(job.result);
}

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

}  // namespace

Decoded decode_image(std::span<const uint8_t> bytes, int reduce) {
  if (bytes.empty()) return {{}, "empty file"};
  if (is_gif(bytes)) return decode_gif(bytes);
  if (is_png(bytes)) return decode_png(bytes);
  if (is_jpeg(bytes))
    return decode_jpeg(bytes, reduce == 2 || reduce == 4 || reduce == 8 ? reduce : 1, nullptr);
  return {{}, "not a JPEG, PNG or GIF image"};
}

Decoded decode_image_region(std::span<const uint8_t> bytes, const cv::Rect& region) {
  if (is_jpeg(bytes)) return decode_jpeg(bytes, 1, &region);
  Decoded decoded = decode_image(bytes);
  if (decoded.ok() &&
      (region.empty() || (region & cv::Rect(0, 0, decoded.bgr.cols, decoded.bgr.rows)) != region)) {
    return {{}, "region outside the image"};
  }
  return decoded;
}

std::optional<cv::Size> peek_image_size(std::span<const uint8_t> bytes) {
  if (is_jpeg(bytes)) return jpeg_size(bytes);
  if (is_png(bytes) && bytes.size() >= 24) {
    int width = static_cast<int>(big_endian(bytes, 16, 4));
    int height = static_cast<int>(big_endian(bytes, 20, 4));
    if (width > 0 && height > 0) return cv::Size(width, height);
  }
  if (is_gif(bytes) && bytes.size() >= 10) {
    int width = bytes[6] | bytes[7] << 8;
    int height = bytes[8] | bytes[9] << 8;
    if (width > 0 && height > 0) return cv::Size(width, height);
  }
  return std::nullopt;
}

std::string read_file(const std::string& path, std::vector<uint8_t>* bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return path + ": " + std::strerror(errno);
  struct stat info;
  std::string error;
  if (::fstat(fd, &info) != 0) {
    error = path + ": " + std::strerror(errno);
  } else {
    bytes->resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < bytes->size()) {
      ssize_t n = ::read(fd, bytes->data() + done, bytes->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = path + ": " + std::strerror(errno);
        break;
      }
      if (n == 0) {  // the file shrank since fstat
        bytes->resize(done);
        break;
      }
      done += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  return error;
}

}  // namespace loader
