// Decoding every kind of file the Pets archive holds under a ".jpg" name into 3-channel images.
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
  bool ok() const { return error.empty(); }
};

// Decodes an image held in memory; the format is recognised by content, never by name.
// - JPEG (colour, grayscale, CMYK), PNG and everything else OpenCV reads go through cv::imdecode
//   with the EXIF orientation ignored, as PIL's Image.open does. Gray is replicated to three
//   channels and an alpha channel is dropped without compositing, as PIL's convert("RGB") does.
// - GIF (which OpenCV 4.6 cannot read) goes through giflib: the first frame, painted on the
//   logical screen (filled with the frame's transparent index if it has one, else index 0, as PIL
//   does), mapped through its palette.
// - A JPEG whose entropy-coded data is not followed by an end-of-image marker is refused as
//   truncated (libjpeg would pad it with grey; PIL refuses it too).
// `reduce` in {1, 2, 4, 8} asks a JPEG to be decoded at 1/reduce of its size by DCT scaling (each
// side rounded up); other formats ignore it and decode at full size, so callers must check the
// returned size. Thread-safe.
Decoded decode_image(std::span<const uint8_t> bytes, int reduce = 1);

// The width and height stored in a JPEG, PNG or GIF header, without decoding; nullopt when the
// format is unknown or the header is damaged.
std::optional<cv::Size> peek_image_size(std::span<const uint8_t> bytes);

// Reads the whole file at `path` into `*bytes` (reusing its capacity). Returns an empty string on
// success, otherwise the reason, naming the file.
std::string read_file(const std::string& path, std::vector<uint8_t>* bytes);

}  // namespace loader

#endif  // LOADER_DECODE_H_
