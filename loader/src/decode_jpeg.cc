// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <exception>
#include <memory>

#include "codecs.h"
#include "common/c_text.h"

#ifndef JCS_EXTENSIONS
#error "libjpeg-turbo's colour space extensions (JCS_EXT_BGR) are needed"
#endif

namespace loader::codecs {
namespace {

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

}  // namespace

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

namespace {

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

// Limits the decode to job->region (one column of margin each side, for fancy upsampling) and
// skips to its first row; [*first_row, *end_row) the rows then read. False with the error set.
// Called after run_jpeg's setjmp: nothing here has a destructor.
bool crop_to_region(JpegJob* job, JDIMENSION* first_row, JDIMENSION* end_row) {
  jpeg_decompress_struct& cinfo = job->cinfo;
  const cv::Rect* region = job->region;
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
  *first_row = static_cast<JDIMENSION>(region->y);
  *end_row = *first_row + static_cast<JDIMENSION>(region->height);
  if (*first_row > 0 && jpeg_skip_scanlines(&cinfo, *first_row) != *first_row) {
    job->result.error = "JPEG: could not skip to the region";
    return false;
  }
  job->result.origin = cv::Point(static_cast<int>(left), static_cast<int>(*first_row));
  return true;
}

// Reads rows [first_row, end_row) into job->result.bgr (CMYK converted as PIL does); stops early
// only on a libjpeg failure, which the caller tells by output_scanline. Nothing with a
// destructor, as above.
void read_rows(JpegJob* job, bool cmyk, JDIMENSION first_row, JDIMENSION end_row) {
  jpeg_decompress_struct& cinfo = job->cinfo;
  cv::Mat& image = job->result.bgr;
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
  if (job->region && !crop_to_region(job, &first_row, &end_row)) return false;
  cv::Mat& image = job->result.bgr;
  image.create(static_cast<int>(end_row - first_row), static_cast<int>(cinfo.output_width),
               CV_8UC3);
  read_rows(job, cmyk, first_row, end_row);
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

}  // namespace

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
}  // namespace loader::codecs
