// shape: long file: each pass's SSE4.1, AVX2 and AVX-512 kernels beside the scalar code whose
// bytes they must reproduce exactly, so that a change to one is seen against the others.
#include "bilinear_passes.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace loader::bilinear {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed point for 8-bit images
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

}  // namespace

AxisWeights axis_weights(int in_size, double in0, double in1, int out_size) {
  double scale = (in1 - in0) / out_size;
  double filter_scale = std::max(scale, 1.0);
  double support = filter_scale;  // the triangle's support is 1
  const int bound = std::min(static_cast<int>(std::ceil(support)) * 2 + 1, in_size);
  std::vector<int> xmins(out_size), counts(out_size);
  AxisWeights axis;
  axis.taps = 1;
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    xmins[xx] = std::max(static_cast<int>(center - support + 0.5), 0);
    counts[xx] = std::clamp(std::min(static_cast<int>(center + support + 0.5), in_size) - xmins[xx],
                            0, bound);
    axis.taps = std::max(axis.taps, counts[xx]);
  }
  axis.first.resize(out_size);
  axis.weights.assign(static_cast<size_t>(out_size) * axis.taps, 0);
  std::vector<double> k(axis.taps);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    const int xmin = xmins[xx], count = counts[xx];
    double sum = 0;
    for (int x = 0; x < count; ++x) {
      k[x] = triangle((x + xmin - center + 0.5) / filter_scale);
      sum += k[x];
    }
    int first = std::min(xmin, in_size - axis.taps);
    int32_t* out = &axis.weights[static_cast<size_t>(xx) * axis.taps + (xmin - first)];
    for (int x = 0; x < count; ++x) {
      double w = sum != 0.0 ? k[x] / sum : k[x];
      out[x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits)
                                          : 0.5 + w * (1 << kPrecisionBits));
    }
    axis.first[xx] = first;
  }
  return axis;
}

namespace {

uint8_t clip8(int32_t sum) {
  return static_cast<uint8_t>(std::clamp(sum >> kPrecisionBits, 0, 255));
}

// One row of the horizontal pass; kTaps > 0 fixes the tap count at compile time so the common
// cases (2 or 3 when enlarging, up to 6 when shrinking up to about 2.5x) unroll.
template <int kTaps>
void horizontal_row(const uint8_t* in, const AxisWeights& axis, int out_width, uint8_t* out) {
  const int taps = kTaps > 0 ? kTaps : axis.taps;
  const int32_t* k = axis.weights.data();
  for (int xx = 0; xx < out_width; ++xx, out += 3, k += taps) {
    const uint8_t* p = in + axis.first[xx] * 3;
    int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
    for (int t = 0; t < taps; ++t, p += 3) {
      s0 += p[0] * k[t];
      s1 += p[1] * k[t];
      s2 += p[2] * k[t];
    }
    out[0] = clip8(s0);
    out[1] = clip8(s1);
    out[2] = clip8(s2);
  }
}

// The same with one pixel's three channels in one SSE4.1 register, from output pixel `x0` on: a
// 4-byte load per tap, which reads one byte past the pixel, so windows that reach the row's last
// pixel load 3 bytes instead.
__attribute__((target("sse4.1"))) void horizontal_row_sse41(const uint8_t* in, int in_width,
                                                            const AxisWeights& axis, int x0,
                                                            int out_width, uint8_t* out) {
  const int taps = axis.taps;
  const int32_t* k = axis.weights.data() + static_cast<size_t>(x0) * taps;
  out += static_cast<size_t>(x0) * 3;
  for (int xx = x0; xx < out_width; ++xx, out += 3, k += taps) {
    const uint8_t* p = in + axis.first[xx] * 3;
    const bool reaches_end = axis.first[xx] + taps >= in_width;
    __m128i sum = _mm_set1_epi32(kHalf);
    for (int t = 0; t < taps; ++t, p += 3) {
      uint32_t pixel;
      if (reaches_end && t == taps - 1) {
        pixel = p[0] | p[1] << 8 | p[2] << 16;
      } else {
        std::memcpy(&pixel, p, 4);
      }
      __m128i wide = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(static_cast<int>(pixel)));
      sum = _mm_add_epi32(sum, _mm_mullo_epi32(wide, _mm_set1_epi32(k[t])));
    }
    // Arithmetic shift then saturating packs: PIL's clip to [0, 255].
    __m128i shifted = _mm_srai_epi32(sum, kPrecisionBits);
    uint32_t packed = static_cast<uint32_t>(
        _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(shifted, shifted), shifted)));
    std::memcpy(out, &packed, 3);
  }
}

// The horizontal pass with AVX2 16-bit multiply-adds, two output pixels at a time (one per 128-bit
// lane) and two taps per multiply-add. A 22-bit weight does not fit 16 bits, so each is split as
// w = hi * 2^15 + lo with lo in [0, 2^15): the sum over taps of pixel * w is then exactly
// (sum of pixel * hi) * 2^15 + sum of pixel * lo, the same integer the scalar code computes
// (32-bit wrap-around cannot change it, since the final sum fits as it does there).
constexpr int kMaxAvx2Taps = 16;

// Per pair of output pixels and pair of taps, the hi then the lo weights as 16-bit lanes
// [w_t, w_t+1, w_t, w_t+1, w_t, w_t+1, 0, 0] for the first pixel, then the same for the second.
void split_weights(const AxisWeights& axis, int out_width, std::vector<int16_t>& split) {
  const int pairs = (axis.taps + 1) / 2;
  split.assign(static_cast<size_t>(out_width / 2) * pairs * 32, 0);
  for (int xx = 0; xx + 1 < out_width; xx += 2) {
    for (int j = 0; j < pairs; ++j) {
      int16_t* block = &split[(static_cast<size_t>(xx / 2) * pairs + j) * 32];
      for (int pixel = 0; pixel < 2; ++pixel) {
        for (int u = 0; u < 2; ++u) {
          int t = 2 * j + u;
          int32_t w =
              t < axis.taps ? axis.weights[static_cast<size_t>(xx + pixel) * axis.taps + t] : 0;
          for (int c = 0; c < 3; ++c) {
            block[pixel * 8 + 2 * c + u] = static_cast<int16_t>(w >> 15);
            block[16 + pixel * 8 + 2 * c + u] = static_cast<int16_t>(w & 0x7fff);
          }
        }
      }
    }
  }
}

__attribute__((target("avx2"))) void horizontal_row_avx2(const uint8_t* in, int in_width,
                                                         const AxisWeights& axis,
                                                         const int16_t* split, int out_width,
                                                         uint8_t* out) {
  const int pairs = (axis.taps + 1) / 2;
  // Bytes 0-5 of an 8-byte load are two taps' B, G, R; as 16-bit lanes B B' G G' R R' 0 0.
  const __m256i spread = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
                                          0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const __m256i half = _mm256_set1_epi32(kHalf);
  // Each 8-byte load ends 2 bytes past its taps, and an odd tap count adds one zero-weight tap:
  // pixel pairs whose loads would pass the row's end go to the SSE4.1 code.
  const int row_bytes = in_width * 3;
  int xx = 0;
  for (; xx + 1 < out_width && axis.first[xx + 1] * 3 + 6 * pairs + 2 <= row_bytes; xx += 2) {
    const uint8_t* pa = in + axis.first[xx] * 3;
    const uint8_t* pb = in + axis.first[xx + 1] * 3;
    const __m256i* k =
        reinterpret_cast<const __m256i*>(split + static_cast<size_t>(xx / 2) * pairs * 32);
    __m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
    for (int j = 0; j < pairs; ++j, pa += 6, pb += 6, k += 2) {
      __m256i bytes = _mm256_inserti128_si256(
          _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pa))),
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(pb)), 1);
      __m256i wide = _mm256_shuffle_epi8(bytes, spread);
      hi = _mm256_add_epi32(hi, _mm256_madd_epi16(wide, _mm256_loadu_si256(k)));
      lo = _mm256_add_epi32(lo, _mm256_madd_epi16(wide, _mm256_loadu_si256(k + 1)));
    }
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi, 15), lo), half);
    sum = _mm256_srai_epi32(sum, kPrecisionBits);
    __m256i packed = _mm256_packus_epi16(_mm256_packs_epi32(sum, sum), sum);
    uint32_t a = static_cast<uint32_t>(_mm256_cvtsi256_si32(packed));
    uint32_t b = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(packed, 1)));
    uint8_t* o = out + static_cast<size_t>(xx) * 3;
    std::memcpy(o, &a, 3);
    std::memcpy(o + 3, &b, 3);
  }
  horizontal_row_sse41(in, in_width, axis, xx, out_width, out);
}

// The horizontal pass with AVX-512 byte permutes, four output pixels at a time (one per 128-bit
// lane): one 64-byte load covers the windows of all four when they span at most 64 bytes
// (shrinking up to about 3.5x), and for each pair of taps one vpermb places each pixel's B B' G G'
// R R' as 16-bit lanes, zero-extended by its mask, where the AVX2 code needs two loads, an insert
// and a shuffle for two pixels. The same split weights and exact sums as the AVX2 code.
constexpr int kAvx512Group = 4;

struct Avx512Plan {
  int pairs = 0;
  int groups = 0;
  std::vector<uint8_t> index;    // per group and tap pair: 64 permute indices
  std::vector<int16_t> weights;  // per group and tap pair: 32 hi then 32 lo weights
};

// False when some group's windows span more than 64 bytes.
bool plan_avx512(const AxisWeights& axis, int out_width, Avx512Plan& plan) {
  plan.pairs = (axis.taps + 1) / 2;
  plan.groups = out_width / kAvx512Group;
  for (int g = 0; g < plan.groups; ++g) {
    int span = (axis.first[g * kAvx512Group + kAvx512Group - 1] - axis.first[g * kAvx512Group]) * 3;
    if (span + 6 * plan.pairs > 64) return false;
  }
  const size_t blocks = static_cast<size_t>(plan.groups) * plan.pairs;
  plan.index.assign(blocks * 64, 0);
  plan.weights.assign(blocks * 64, 0);
  for (int g = 0; g < plan.groups; ++g) {
    const int x0 = g * kAvx512Group;
    for (int j = 0; j < plan.pairs; ++j) {
      const size_t block = static_cast<size_t>(g) * plan.pairs + j;
      uint8_t* index = &plan.index[block * 64];
      int16_t* weights = &plan.weights[block * 64];
      for (int p = 0; p < kAvx512Group; ++p) {
        const int offset = (axis.first[x0 + p] - axis.first[x0]) * 3;
        for (int u = 0; u < 2; ++u) {
          const int t = 2 * j + u;
          const int32_t w =
              t < axis.taps ? axis.weights[static_cast<size_t>(x0 + p) * axis.taps + t] : 0;
          for (int c = 0; c < 3; ++c) {
            const int lane = p * 8 + 2 * c + u;  // 16-bit lane
            // A zero-weight padding tap may point past the windows; any byte of the load will do.
            index[2 * lane] = static_cast<uint8_t>(std::min(offset + 3 * t + c, 63));
            weights[lane] = static_cast<int16_t>(w >> 15);
            weights[32 + lane] = static_cast<int16_t>(w & 0x7fff);
          }
        }
      }
    }
  }
  return true;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) void horizontal_row_avx512(
    const uint8_t* in, int in_width, const AxisWeights& axis, const Avx512Plan& plan, int out_width,
    uint8_t* out) {
  const int64_t row_bytes = static_cast<int64_t>(in_width) * 3;
  // The low byte of 16-bit lanes 0-5 in each 128-bit lane; the rest become zero.
  const __mmask64 low_bytes = 0x0555055505550555ull;
  const __m512i half = _mm512_set1_epi32(kHalf);
  const __m512i zero = _mm512_setzero_si512();
  // B G R of each of the four pixels, from the 16 bytes [B G R 0] x 4.
  const __m128i compact = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  const uint8_t* index = plan.index.data();
  const int16_t* weights = plan.weights.data();
  for (int g = 0; g < plan.groups; ++g) {
    const int64_t base = static_cast<int64_t>(axis.first[g * kAvx512Group]) * 3;
    const int64_t left = row_bytes - base;
    // Masked-off bytes are neither read nor faulted on: the load never passes the row's end.
    const __mmask64 in_row = left >= 64 ? ~0ull : (1ull << left) - 1;
    const __m512i bytes = _mm512_maskz_loadu_epi8(in_row, in + base);
    __m512i hi = zero, lo = zero;
    for (int j = 0; j < plan.pairs; ++j, index += 64, weights += 64) {
      const __m512i wide =
          _mm512_maskz_permutexvar_epi8(low_bytes, _mm512_loadu_si512(index), bytes);
      hi = _mm512_add_epi32(hi, _mm512_madd_epi16(wide, _mm512_loadu_si512(weights)));
      lo = _mm512_add_epi32(lo, _mm512_madd_epi16(wide, _mm512_loadu_si512(weights + 32)));
    }
    // The zero-masked forms with every lane selected: the plain ones trip GCC 12's false
    // -Wmaybe-uninitialized in its own header (GCC bug 105593).
    const __mmask16 all = 0xffff;
    __m512i sum =
        _mm512_add_epi32(_mm512_add_epi32(_mm512_maskz_slli_epi32(all, hi, 15), lo), half);
    sum = _mm512_maskz_max_epi32(all, _mm512_maskz_srai_epi32(all, sum, kPrecisionBits), zero);
    const __m128i packed = _mm_shuffle_epi8(_mm512_maskz_cvtusepi32_epi8(all, sum), compact);
    _mm_mask_storeu_epi8(out + static_cast<size_t>(g) * kAvx512Group * 3, 0x0fff, packed);
  }
  horizontal_row_sse41(in, in_width, axis, plan.groups * kAvx512Group, out_width, out);
}

}  // namespace

// Resamples rows [row0, row0 + rows) of `src` horizontally into `out` (rows x out_width x 3).
void horizontal_pass(const cv::Mat& src, int row0, int rows, const AxisWeights& axis, int out_width,
                     uint8_t* out, ResizeCode code) {
  static const bool kHaveSse41 = __builtin_cpu_supports("sse4.1");
  static const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
  static const bool kHaveAvx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi");
  if (kHaveAvx512 && code == ResizeCode::kBest) {
    thread_local Avx512Plan plan;
    if (plan_avx512(axis, out_width, plan)) {
      for (int y = 0; y < rows; ++y) {
        horizontal_row_avx512(src.ptr<uint8_t>(row0 + y), src.cols, axis, plan, out_width,
                              out + static_cast<size_t>(y) * out_width * 3);
      }
      return;
    }
  }
  if (kHaveAvx2 && code != ResizeCode::kScalar && axis.taps <= kMaxAvx2Taps) {
    thread_local std::vector<int16_t> split;
    split_weights(axis, out_width, split);
    for (int y = 0; y < rows; ++y) {
      horizontal_row_avx2(src.ptr<uint8_t>(row0 + y), src.cols, axis, split.data(), out_width,
                          out + static_cast<size_t>(y) * out_width * 3);
    }
    return;
  }
  if (kHaveSse41 && code != ResizeCode::kScalar) {
    for (int y = 0; y < rows; ++y) {
      horizontal_row_sse41(src.ptr<uint8_t>(row0 + y), src.cols, axis, 0, out_width,
                           out + static_cast<size_t>(y) * out_width * 3);
    }
    return;
  }
  auto row = &horizontal_row<0>;
  if (axis.taps == 2) row = &horizontal_row<2>;
  if (axis.taps == 3) row = &horizontal_row<3>;
  if (axis.taps == 4) row = &horizontal_row<4>;
  if (axis.taps == 5) row = &horizontal_row<5>;
  if (axis.taps == 6) row = &horizontal_row<6>;
  for (int y = 0; y < rows; ++y) {
    row(src.ptr<uint8_t>(row0 + y), axis, out_width, out + static_cast<size_t>(y) * out_width * 3);
  }
}

namespace {

// Resamples the intermediate (whose row 0 is source row `row0`) vertically into output rows
// [y0, y1), writing the BGR channels to the R, G and B planes swapped into RGB order.
void vertical_rows_scalar(const uint8_t* in, int row0, int width, const AxisWeights& axis,
                          int out_height, int y0, int y1, int x0, uint8_t* planes) {
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  const size_t plane = static_cast<size_t>(width) * out_height;
  for (int yy = y0; yy < y1; ++yy) {
    const int32_t* k = &axis.weights[static_cast<size_t>(yy) * axis.taps];
    const uint8_t* rows = in + (axis.first[yy] - row0) * row_bytes;
    uint8_t* r = planes + static_cast<size_t>(yy) * width;
    for (int x = x0; x < width; ++x) {
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      const uint8_t* p = rows + 3 * x;
      for (int t = 0; t < axis.taps; ++t, p += row_bytes) {
        s0 += p[0] * k[t];
        s1 += p[1] * k[t];
        s2 += p[2] * k[t];
      }
      r[x] = clip8(s2);
      r[plane + x] = clip8(s1);
      r[2 * plane + x] = clip8(s0);
    }
  }
}

// The shuffles that gather one channel of 16 interleaved BGR pixels (48 bytes in three 16-byte
// registers) into 16 consecutive bytes: kGather[c][s] takes from register s the bytes of channel c
// at their final positions and zeroes the others; OR-ing the three results assembles the channel.
struct GatherMasks {
  alignas(16) uint8_t mask[3][3][16];
};

constexpr GatherMasks make_gather_masks() {
  GatherMasks m{};
  for (int c = 0; c < 3; ++c) {
    for (int s = 0; s < 3; ++s) {
      for (int i = 0; i < 16; ++i) {
        int byte = 3 * i + c;
        m.mask[c][s][i] = byte / 16 == s ? static_cast<uint8_t>(byte % 16) : 0x80;
      }
    }
  }
  return m;
}

constexpr GatherMasks kGather = make_gather_masks();

// The vertical pass 16 pixels (48 bytes) at a time in eight-lane 32-bit sums: the same products,
// sums, shift and clip as the scalar code, so the same bytes; the sums are packed to bytes with
// saturation (PIL's clip) and split into the three planes by byte shuffles. Remaining pixels at
// the end of each row go through the scalar code.
__attribute__((target("avx2"))) void vertical_pass_avx2(const uint8_t* in, int row0, int width,
                                                        const AxisWeights& axis, int out_height,
                                                        uint8_t* planes) {
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  const size_t plane = static_cast<size_t>(width) * out_height;
  const int taps = axis.taps;
  const int vector_width = width - width % 16;
  __m128i gather[3][3];
  for (int c = 0; c < 3; ++c) {
    for (int s = 0; s < 3; ++s) {
      gather[c][s] = _mm_load_si128(reinterpret_cast<const __m128i*>(kGather.mask[c][s]));
    }
  }
  for (int yy = 0; yy < out_height; ++yy) {
    const int32_t* k = &axis.weights[static_cast<size_t>(yy) * taps];
    const uint8_t* rows = in + (axis.first[yy] - row0) * row_bytes;
    uint8_t* r = planes + static_cast<size_t>(yy) * width;
    for (int x = 0; x < vector_width; x += 16) {
      const uint8_t* p = rows + 3 * x;
      __m256i acc[6];
      for (int j = 0; j < 6; ++j) acc[j] = _mm256_set1_epi32(kHalf);
      for (int t = 0; t < taps; ++t, p += row_bytes) {
        const __m256i w = _mm256_set1_epi32(k[t]);
        for (int j = 0; j < 6; ++j) {
          __m256i v =
              _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8 * j)));
          acc[j] = _mm256_add_epi32(acc[j], _mm256_mullo_epi32(v, w));
        }
      }
      for (int j = 0; j < 6; ++j) acc[j] = _mm256_srai_epi32(acc[j], kPrecisionBits);
      // packs/packus work within 128-bit lanes; the 64-bit permutes restore the byte order.
      __m256i w01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(acc[0], acc[1]), 0xD8);
      __m256i w23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(acc[2], acc[3]), 0xD8);
      __m256i w45 = _mm256_permute4x64_epi64(_mm256_packs_epi32(acc[4], acc[5]), 0xD8);
      __m256i b0 = _mm256_permute4x64_epi64(_mm256_packus_epi16(w01, w23), 0xD8);
      __m256i b1 = _mm256_permute4x64_epi64(_mm256_packus_epi16(w45, w45), 0xD8);
      const __m128i v[3] = {_mm256_castsi256_si128(b0), _mm256_extracti128_si256(b0, 1),
                            _mm256_castsi256_si128(b1)};
      uint8_t* out[3] = {r + 2 * plane + x, r + plane + x, r + x};  // B, G, R
      for (int c = 0; c < 3; ++c) {
        __m128i bytes = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(v[0], gather[c][0]),
                                                  _mm_shuffle_epi8(v[1], gather[c][1])),
                                     _mm_shuffle_epi8(v[2], gather[c][2]));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out[c]), bytes);
      }
    }
  }
  if (vector_width < width) {
    vertical_rows_scalar(in, row0, width, axis, out_height, 0, out_height, vector_width, planes);
  }
}

}  // namespace

void vertical_pass(const uint8_t* in, int row0, int width, const AxisWeights& axis, int out_height,
                   uint8_t* planes, ResizeCode code) {
  static const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
  if (kHaveAvx2 && code != ResizeCode::kScalar) {
    vertical_pass_avx2(in, row0, width, axis, out_height, planes);
  } else {
    vertical_rows_scalar(in, row0, width, axis, out_height, 0, out_height, 0, planes);
  }
}

}  // namespace loader::bilinear
