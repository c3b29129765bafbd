// Decoding every kind of file the Pets archive holds under a ".jpg" name into 3-channel images,
// with libjpeg-turbo, libpng and giflib (as PIL does); OpenCV supplies only the image type.
#ifndef LOADER_DECODE_H_
#define LOADER_DECODE_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loader {

// A decoded image, or why there is none.
struct Decoded {
  cv::Mat bgr;        // 8-bit, 3 channels, BGR order (OpenCV's); empty on failure
  std::string error;  // empty on success
  cv::Point origin;   // where bgr's top-left pixel lies in the whole image; (0, 0) unless partial
  int warnings = 0;   // corrupt data libjpeg recovered from; tolerated, as PIL does
  bool ok() const { return error.empty(); }
};

// Decodes an image held in memory; the format is recognised by content, never by name.
// - JPEG goes through libjpeg-turbo with PIL's settings (accurate integer IDCT, fancy upsampling,
//   no EXIF rotation), so the pixels equal PIL's convert("RGB") of Image.open: gray is replicated
//   to three channels, and CMYK/YCCK is taken as Adobe's inverted CMYK and turned into RGB by
//   PIL's formula. libjpeg's warnings (corrupt data) are counted in `warnings`, not fatal; its
//   errors are returned in `error`.
// - PNG goes through libpng, to PIL's convert("RGB") of Image.open: palettes map to their colours
//   (tRNS transparency ignored), gray is replicated, alpha is dropped without compositing,
//   1/2/4-bit gray scales up, 16-bit colour keeps each sample's high byte and 16-bit gray clamps at
//   255 (PIL opens it as 32-bit integers); no gamma is applied. A damaged or truncated file is an
//   error.
// - GIF (which OpenCV 4.6 cannot read) goes through giflib: the first frame, painted on the
//   logical screen (filled with the frame's transparent index if it has one, else index 0, as PIL
//   does), mapped through its palette.
// - Anything else (BMP, TIFF, WebP...) is refused: "not a JPEG, PNG or GIF image".
// - A JPEG whose entropy-coded data is not followed by an end-of-image marker is refused as
//   truncated (libjpeg would pad it with grey; PIL refuses it too).
// `reduce` in {1, 2, 4, 8} asks a JPEG to be decoded at 1/reduce of its size by DCT scaling (each
// side rounded up); other formats ignore it and decode at full size, so callers must check the
// returned size. Thread-safe.
Decoded decode_image(std::span<const uint8_t> bytes, int reduce = 1);

// Decodes at least `region` (in pixels of the whole image, which it must lie within) of an image,
// with pixels equal to those of decode_image's full decode: the caller's crop is
// bgr(region - origin). A JPEG decodes only the rows of `region` and the iMCU columns around its
// columns (libjpeg's skip and crop), and stops after the region's last row, so corrupt data below
// the region goes unnoticed; other formats decode the whole image.
Decoded decode_image_region(std::span<const uint8_t> bytes, const cv::Rect& region);

// The width and height stored in a JPEG, PNG or GIF header, without decoding; nullopt when the
// format is unknown or the header is damaged.
std::optional<cv::Size> peek_image_size(std::span<const uint8_t> bytes);

// Reads the whole file at `path` into `*bytes` (reusing its capacity). Returns an empty string on
// success, otherwise the reason, naming the file.
std::string read_file(const std::string& path, std::vector<uint8_t>* bytes);

}  // namespace loader

#endif  // LOADER_DECODE_H_
