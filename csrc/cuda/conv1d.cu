// 1-D convolution over channels-last sequences on the GPU, forward and backward, as direct
// kernels (the semantics of csrc/cpu/conv1d.h and docs/conv1d_contract.md).
// Legend: B batch, T steps in, T' (T_out) steps out, C channels, F filters, K kernel width,
// G groups (Cg = C/G input and Fg = F/G output channels per group), s stride, d dilation.
//
//   y[b, t', g·Fg + j] = bias[.] + Σ_k Σ_i x[b, t'·s + k·d − pad_left, g·Cg + i] · kernel[k, i, g·Fg + j]
//
// One thread per output element in each direction (the element functions of conv1d.cuh, which
// tests/test_cuda_compile.py also runs on the host), filters (or channels) fastest so that a warp
// reads the kernel's rows and dy coalesced and x as broadcasts: plain but exact; no shared-memory
// tiling or implicit GEMM yet.
#include <cuda_runtime.h>

#include "conv1d.cuh"
#include "cuda_ops.h"
#include "grid_stride.cuh"

namespace pyseq::cuda {

namespace {

using elementwise::blocks_for;
using elementwise::kThreads;

template <typename T>
__global__ void conv1d_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                      const T* __restrict__ kernel, const T* __restrict__ bias,
                                      Conv1dShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T_out * s.F) y[at] = conv1d_y_at(at, x, kernel, bias, s);
}

template <typename T>
__global__ void conv1d_dx_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                 const T* __restrict__ kernel, Conv1dShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T * s.C) dx[at] = conv1d_dx_at(at, dy, kernel, s);
}

template <typename T>
__global__ void conv1d_dkernel_kernel(T* __restrict__ dkernel, const T* __restrict__ dy,
                                      const T* __restrict__ x, Conv1dShape s) {
  PYSEQ_GRID_STRIDE(at, s.K * (s.C / s.groups) * s.F) dkernel[at] = conv1d_dkernel_at(at, dy, x, s);
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
