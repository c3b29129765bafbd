// The image transforms of the recipe, equivalent to torchvision's on PIL images:
// RandomResizedCrop(size, scale, ratio) for training and Resize((size, size)) for evaluation, both
// with PIL's bilinear filter, which is antialiased when shrinking.
#ifndef LOADER_TRANSFORMS_H_
#define LOADER_TRANSFORMS_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <random>

namespace loader {

// A rectangle of whole pixels, in torchvision's (top, left, height, width) terms.
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};

struct CropParams {
  double min_scale = 0.5, max_scale = 1.0;              // fraction of the image area
  double min_ratio = 3.0 / 4.0, max_ratio = 4.0 / 3.0;  // width / height
};

// torchvision's RandomResizedCrop.get_params for a width x height image: up to 10 tries of an area
// fraction uniform in [min_scale, max_scale] and a ratio log-uniform in [min_ratio, max_ratio],
// w = round(sqrt(area * ratio)), h = round(sqrt(area / ratio)) (halves to even, as Python's
// round), accepted when 0 < w <= width and 0 < h <= height, with top and left uniform over the
// valid offsets. Otherwise the centred crop of the whole image with its ratio clamped into range.
// The draws come from `rng`, so the result is a function of the generator's state.
CropBox sample_resized_crop(int width, int height, std::mt19937_64& rng,
                            const CropParams& params = {});

// A region of the source in pixel coordinates; fractional edges are allowed, as PIL's resize box.
struct Region {
  double left = 0, top = 0, right = 0, bottom = 0;
};

// Which code resize_to_planar_rgb runs: kBest picks the fastest this CPU supports (SSE4.1, AVX2,
// AVX-512 VBMI), kAvx2 the fastest short of AVX-512, kScalar the portable code. All give the same
// bytes; kAvx2 and kScalar exist to test that.
enum class ResizeCode { kBest, kAvx2, kScalar };

// PIL's Image.resize((out_width, out_height), BILINEAR, box=region) of `bgr` (8-bit, 3 channels,
// BGR as OpenCV decodes), written as planar RGB: three planes of out_height x out_width bytes from
// `rgb_planes`. The filter taps stop at the edges of `bgr`, so torchvision's crop-then-resize is
// this call on the crop's cv::Mat view with the whole view as region. A triangle filter whose
// support widens with the shrink factor, 22-bit fixed-point weights, the horizontal pass first
// through an 8-bit intermediate: PIL's own arithmetic. `region` must lie within `bgr` and be
// non-empty. Thread-safe; uses per-thread scratch memory.
void resize_to_planar_rgb(const cv::Mat& bgr, const Region& region, int out_width, int out_height,
                          uint8_t* rgb_planes, ResizeCode code = ResizeCode::kBest);

// The same resize of the whole image, returned as an interleaved BGR image (for tests and tools).
cv::Mat resize_bilinear(const cv::Mat& bgr, int out_width, int out_height);

}  // namespace loader

#endif  // LOADER_TRANSFORMS_H_
