// 1-D convolution over channels-last sequences on the GPU, forward and backward, as direct
// kernels (the semantics of csrc/cpu/conv1d.h and docs/conv1d_contract.md).
// Legend: B batch, T steps in, T' (T_out) steps out, C channels, F filters, K kernel width,
// G groups (Cg = C/G input and Fg = F/G output channels per group), s stride, d dilation.
//
//   y[b, t', g·Fg + j] = bias[.] + Σ_k Σ_i x[b, t'·s + k·d − pad_left, g·Cg + i] · kernel[k, i, g·Fg + j]
//
// One thread per output element in each direction, filters (or channels) fastest so that a warp
// reads the kernel's rows and dy coalesced and x as broadcasts: plain but exact; no shared-memory
// tiling or implicit GEMM yet.
#include <cuda_runtime.h>

#include "cuda_ops.h"

namespace pyseq::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::int64_t n) {
  const std::int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 32 ? b : 65535 * 32);  // grid-stride loops cover the rest
}

#define PYSEQ_GRID_STRIDE(i, n) \
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < (n); i += std::int64_t(gridDim.x) * blockDim.x)

// y (B,T_out,F) <- x (B,T,C), kernel (K,Cg,F), bias (F,) or null.
template <typename T>
__global__ void conv1d_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                      const T* __restrict__ kernel, const T* __restrict__ bias,
                                      Conv1dShape s) {
  const std::int64_t Cg = s.C / s.groups, Fg = s.F / s.groups;
  PYSEQ_GRID_STRIDE(at, s.B * s.T_out * s.F) {
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
    y[at] = acc;
  }
}

// dx (B,T,C) = Σ over the taps that read x[b, t, c]:  t = t'·s + k·d − pad_left  (forward line).
template <typename T>
__global__ void conv1d_dx_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                 const T* __restrict__ kernel, Conv1dShape s) {
  const std::int64_t Cg = s.C / s.groups, Fg = s.F / s.groups;
  PYSEQ_GRID_STRIDE(at, s.B * s.T * s.C) {
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
    dx[at] = acc;
  }
}

// dkernel (K,Cg,F) = Σ_b Σ_t' x[b, t'·s + k·d − pad_left, g·Cg + i] · dy[b, t', f].
template <typename T>
__global__ void conv1d_dkernel_kernel(T* __restrict__ dkernel, const T* __restrict__ dy,
                                      const T* __restrict__ x, Conv1dShape s) {
  const std::int64_t Cg = s.C / s.groups, Fg = s.F / s.groups;
  PYSEQ_GRID_STRIDE(at, s.K * Cg * s.F) {
    const std::int64_t f = at % s.F, i = at / s.F % Cg, k = at / s.F / Cg;
    const std::int64_t c = f / Fg * Cg + i;
    T acc = 0;
    for (std::int64_t b = 0; b < s.B; ++b)
      for (std::int64_t to = 0; to < s.T_out; ++to) {
        const std::int64_t t = to * s.stride + k * s.dilation - s.pad_left;
        if (t >= 0 && t < s.T) acc += x[(b * s.T + t) * s.C + c] * dy[(b * s.T_out + to) * s.F + f];
      }
    dkernel[at] = acc;
  }
}

// dbias (F,) = Σ_rows dy.
template <typename T>
__global__ void conv1d_dbias_kernel(T* __restrict__ dbias, const T* __restrict__ dy, std::int64_t rows,
                                    std::int64_t F) {
  PYSEQ_GRID_STRIDE(f, F) {
    T acc = 0;
    for (std::int64_t r = 0; r < rows; ++r) acc += dy[r * F + f];
    dbias[f] = acc;
  }
}

}  // namespace

template <typename T>
void conv1d_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv1dShape& s) {
  conv1d_forward_kernel<T><<<blocks_for(s.B * s.T_out * s.F), kThreads>>>(y, x, kernel, bias, s);
  check_launch("conv1d_forward");
}

template <typename T>
void conv1d_backward(T* dx, T* dkernel, T* dbias, const T* dy, const T* x, const T* kernel,
                     const Conv1dShape& s) {
  const char* op = "conv1d_backward";
  conv1d_dx_kernel<T><<<blocks_for(s.B * s.T * s.C), kThreads>>>(dx, dy, kernel, s);
  check_launch(op);
  conv1d_dkernel_kernel<T><<<blocks_for(s.K * (s.C / s.groups) * s.F), kThreads>>>(dkernel, dy, x, s);
  check_launch(op);
  if (dbias) {
    conv1d_dbias_kernel<T><<<blocks_for(s.F), kThreads>>>(dbias, dy, s.B * s.T_out, s.F);
    check_launch(op);
  }
}

template void conv1d_forward<float>(float*, const float*, const float*, const float*, const Conv1dShape&);
template void conv1d_forward<double>(double*, const double*, const double*, const double*, const Conv1dShape&);
template void conv1d_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                     const Conv1dShape&);
template void conv1d_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                      const Conv1dShape&);

}  // namespace pyseq::cuda
