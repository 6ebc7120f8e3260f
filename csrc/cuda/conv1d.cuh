// One element of each conv1d direction, for host and device: the kernels of conv1d.cu run them
// one thread per element, and tests/cuda_window_check.cu runs the same functions on the host
// (without a GPU) against the float64 reference. Shapes and legend: conv1d.cu.
#pragma once

#include <cstdint>

#include "cuda_ops.h"

namespace pyseq::cuda {

// y[at] for at = (b, t', f) of (B,T_out,F):
//   y[b, t', f] = bias[f] + Σ_k Σ_i x[b, t'·s + k·d − pad_left, g·Cg + i] · kernel[k, i, f],  g = f / Fg
template <typename T>
__host__ __device__ inline T conv1d_y_at(std::int64_t at, const T* x, const T* kernel, const T* bias,
                                         const Conv1dShape& s) {
  const std::int64_t Cg = s.C / s.groups, Fg = s.F / s.groups;
  const std::int64_t f = at % s.F, to = at / s.F % s.T_out, b = at / s.F / s.T_out;
  const std::int64_t c0 = f / Fg * Cg;
  T acc = bias ? bias[f] : T(0);
  for (std::int64_t k = 0; k < s.K; ++k) {
    const std::int64_t t = to * s.stride + k * s.dilation - s.pad_left;
    if (t < 0 || t >= s.T) continue;
    const T* xr = x + (b * s.T + t) * s.C + c0;
    const T* w = kernel + k * Cg * s.F + f;
    for (std::int64_t i = 0; i < Cg; ++i) acc += xr[i] * w[i * s.F];
  }
  return acc;
}

// dx[at] for at = (b, t, c) of (B,T,C): the taps that read x[b, t, c] (t = t'·s + k·d − pad_left).
template <typename T>
__host__ __device__ inline T conv1d_dx_at(std::int64_t at, const T* dy, const T* kernel, const Conv1dShape& s) {
  const std::int64_t Cg = s.C / s.groups, Fg = s.F / s.groups;
  const std::int64_t c = at % s.C, t = at / s.C % s.T, b = at / s.C / s.T;
  const std::int64_t i = c % Cg, f0 = c / Cg * Fg;
  T acc = 0;
  for (std::int64_t k = 0; k < s.K; ++k) {
    const std::int64_t num = t + s.pad_left - k * s.dilation;  // = t'·s
    if (num < 0 || num % s.stride) continue;
    const std::int64_t to = num / s.stride;
    if (to >= s.T_out) continue;
    const T* g = dy + (b * s.T_out + to) * s.F + f0;
    const T* w = kernel + (k * Cg + i) * s.F + f0;
    for (std::int64_t j = 0; j < Fg; ++j) acc += g[j] * w[j];
  }
  return acc;
}

// dkernel[at] for at = (k, i, f) of (K,Cg,F): Σ_b Σ_t' x[b, t'·s + k·d − pad_left, g·Cg + i] · dy[b, t', f].
template <typename T>
__host__ __device__ inline T conv1d_dkernel_at(std::int64_t at, const T* dy, const T* x, const Conv1dShape& s) {
  const std::int64_t Cg = s.C / s.groups, Fg = s.F / s.groups;
  const std::int64_t f = at % s.F, i = at / s.F % Cg, k = at / s.F / Cg;
  const std::int64_t c = f / Fg * Cg + i;
  T acc = 0;
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t to = 0; to < s.T_out; ++to) {
      const std::int64_t t = to * s.stride + k * s.dilation - s.pad_left;
      if (t >= 0 && t < s.T) acc += x[(b * s.T + t) * s.C + c] * dy[(b * s.T_out + to) * s.F + f];
    }
  return acc;
}

}  // namespace pyseq::cuda
