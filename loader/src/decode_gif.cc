#include <gif_lib.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <exception>
#include <memory>

#include "codecs.h"
#include "common/c_text.h"

namespace loader::codecs {
namespace {

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
}  // namespace

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
}  // namespace loader::codecs
