// The image codecs behind loader/decode.h, one file each: JPEG through libjpeg-turbo, PNG
// through libpng, GIF through giflib, every one decoding as PIL does. Private to loader/src.
#ifndef LOADER_SRC_CODECS_H_
#define LOADER_SRC_CODECS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "loader/decode.h"

namespace loader::codecs {

// A forged header could claim 65500 x 65500 pixels; refuse more than OpenCV's imdecode accepts
// (its CV_IO_MAX_IMAGE_PIXELS default).
constexpr uint64_t kMaxPixels = uint64_t(1) << 30;

// The bytes a codec's read callback hands out, from the start.
struct MemoryReader {
  std::span<const uint8_t> bytes;
  size_t at = 0;
};

inline uint32_t big_endian(std::span<const uint8_t> bytes, size_t at, int width) {
  uint32_t value = 0;
  for (int i = 0; i < width; ++i) value = value << 8 | bytes[at + i];
  return value;
}

// A JPEG at 1/`reduce` of its size (1, 2, 4 or 8), or only `region` of it (when not null).
Decoded decode_jpeg(std::span<const uint8_t> bytes, int reduce, const cv::Rect* region);
// The size in a JPEG's frame header, without decoding; none when there is no valid one.
std::optional<cv::Size> jpeg_size(std::span<const uint8_t> bytes);
Decoded decode_png(std::span<const uint8_t> bytes);
// The first frame, as PIL shows it.
Decoded decode_gif(std::span<const uint8_t> bytes);

}  // namespace loader::codecs

#endif  // LOADER_SRC_CODECS_H_
