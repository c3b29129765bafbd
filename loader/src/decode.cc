#include "loader/decode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "codecs.h"

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

using codecs::big_endian;
using codecs::decode_gif;
using codecs::decode_jpeg;
using codecs::decode_png;
using codecs::jpeg_size;

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
