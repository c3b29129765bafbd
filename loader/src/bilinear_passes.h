// PIL's bilinear resize (Image.resize with BILINEAR, 8-bit, reducing_gap off) as two separable
// passes in fixed point: SSE4.1, AVX2 and AVX-512 VBMI kernels chosen at run time, each giving
// the scalar code's exact bytes. Private to loader/src (transforms.cc).
#ifndef LOADER_SRC_BILINEAR_PASSES_H_
#define LOADER_SRC_BILINEAR_PASSES_H_

#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

#include "loader/transforms.h"

namespace loader::bilinear {

// For each output position along one axis: the first input index and `taps` fixed-point
// weights, computed as PIL's precompute_coeffs/normalize_coeffs_8bpc do. Every position gets the
// same number of taps, the most any position needs (zero weights pad the shorter ones, and windows
// at the far edge start earlier), so the inner loops have a fixed length; zero weights leave the
// sums unchanged. PIL's bound, 2 * ceil(scale) + 1, is one or two taps more than any window
// covers (5 against 4 when shrinking 1.7x), and every tap saved is a multiply per output value.
struct AxisWeights {
  int taps = 0;
  std::vector<int> first;
  std::vector<int32_t> weights;  // out_size * taps
};

// The weights for an output of `out_size` from input positions [in0, in1) of `in_size`.
AxisWeights axis_weights(int in_size, double in0, double in1, int out_size);

// Resamples rows [row0, row0 + rows) of `src` (BGR) horizontally into `out` (rows x out_width x
// 3), with the kernel `code` allows.
void horizontal_pass(const cv::Mat& src, int row0, int rows, const AxisWeights& axis, int out_width,
                     uint8_t* out, ResizeCode code);

// Resamples `in` (the horizontal pass's rows, the first being row0) vertically into three planes
// of out_height x width, R then G then B.
void vertical_pass(const uint8_t* in, int row0, int width, const AxisWeights& axis, int out_height,
                   uint8_t* planes, ResizeCode code);

}  // namespace loader::bilinear

#endif  // LOADER_SRC_BILINEAR_PASSES_H_
