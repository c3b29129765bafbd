// Encoding images to JPEG (libjpeg-turbo) and PNG (libpng), for the synthetic datasets
// (make_pets), tests and benchmarks; the training path only decodes.
#ifndef LOADER_ENCODE_H_
#define LOADER_ENCODE_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace loader {

// Encodes `image` (8-bit gray or 3-channel BGR) as a baseline JPEG of `quality` (1-100) with
// libjpeg's defaults (4:2:0 chroma for colour), into `*out`. Returns an empty string on success,
// otherwise the reason. The same pixels give the same bytes. Thread-safe.
std::string encode_jpeg(const cv::Mat& image, int quality, std::vector<uint8_t>* out);

// Encodes `image` (8 or 16-bit; 1 channel gray, 3 BGR or 4 BGRA) as a non-interlaced PNG into
// `*out`. Returns an empty string on success, otherwise the reason. Thread-safe.
std::string encode_png(const cv::Mat& image, std::vector<uint8_t>* out);

}  // namespace loader

#endif  // LOADER_ENCODE_H_
