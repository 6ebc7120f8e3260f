// 1-D pooling over channels-last sequences on the GPU, forward and backward (the semantics of
// csrc/cpu/pool1d.h and docs/conv1d_contract.md): windowed max and average with TensorFlow's
// padding (padding never takes part; an average divides by the window's real steps), and global
// max and average over the valid steps of an optional mask. Gradients are gathered (one thread
// per input element), so they are deterministic and need no atomics.
// Legend: B batch, T steps in, T' (T_out) steps out, C channels.
#include <cuda_runtime.h>

#include "cuda_ops.h"
#include "grid_stride.cuh"
#include "pool1d.cuh"

namespace pyseq::cuda {

namespace {

using elementwise::blocks_for;
using elementwise::kThreads;

template <typename T>
__global__ void max_forward_kernel(T* __restrict__ y, std::int32_t* __restrict__ argmax,
                                   const T* __restrict__ x, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T_out * s.C) y[at] = max_pool_y_at(at, x, s, argmax + at);
}

template <typename T>
__global__ void max_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                    const std::int32_t* __restrict__ argmax, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T * s.C) dx[at] = max_pool_dx_at(at, dy, argmax, s);
}

template <typename T>
__global__ void avg_forward_kernel(T* __restrict__ y, const T* __restrict__ x, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T_out * s.C) y[at] = avg_pool_y_at(at, x, s);
}

template <typename T>
__global__ void avg_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T * s.C) dx[at] = avg_pool_dx_at(at, dy, s);
}

template <typename T>
__global__ void global_max_forward_kernel(T* __restrict__ y, std::int32_t* __restrict__ argmax,
                                          const T* __restrict__ x, const std::uint8_t* __restrict__ mask,
                                          std::int64_t B, std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * C) y[at] = global_max_y_at(at, x, mask, T_, C, argmax + at);
}

template <typename T>
__global__ void global_max_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                           const std::int32_t* __restrict__ argmax, std::int64_t B,
                                           std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * T_ * C) dx[at] = global_max_dx_at(at, dy, argmax, T_, C);
}

template <typename T>
__global__ void global_avg_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                          const std::uint8_t* __restrict__ mask, std::int64_t B,
                                          std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * C) y[at] = global_avg_y_at(at, x, mask, T_, C);
}

template <typename T>
__global__ void global_avg_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                           const std::uint8_t* __restrict__ mask, std::int64_t B,
                                           std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * T_ * C) dx[at] = global_avg_dx_at(at, dy, mask, T_, C);
}

}  // namespace

template <typename T>
void max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const PoolShape& s) {
  max_forward_kernel<T><<<blocks_for(s.B * s.T_out * s.C), kThreads>>>(y, argmax, x, s);
  check_launch("max_pool1d_forward");
}
template <typename T>
void max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, const PoolShape& s) {
  max_backward_kernel<T><<<blocks_for(s.B * s.T * s.C), kThreads>>>(dx, dy, argmax, s);
  check_launch("max_pool1d_backward");
}
template <typename T>
void avg_pool1d_forward(T* y, const T* x, const PoolShape& s) {
  avg_forward_kernel<T><<<blocks_for(s.B * s.T_out * s.C), kThreads>>>(y, x, s);
  check_launch("avg_pool1d_forward");
}
template <typename T>
void avg_pool1d_backward(T* dx, const T* dy, const PoolShape& s) {
  avg_backward_kernel<T><<<blocks_for(s.B * s.T * s.C), kThreads>>>(dx, dy, s);
  check_launch("avg_pool1d_backward");
}
template <typename T>
void global_max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const std::uint8_t* mask, std::int64_t B,
                               std::int64_t T_, std::int64_t C) {
  global_max_forward_kernel<T><<<blocks_for(B * C), kThreads>>>(y, argmax, x, mask, B, T_, C);
  check_launch("global_max_pool1d_forward");
}
template <typename T>
void global_max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, std::int64_t B, std::int64_t T_,
                                std::int64_t C) {
  global_max_backward_kernel<T><<<blocks_for(B * T_ * C), kThreads>>>(dx, dy, argmax, B, T_, C);
  check_launch("global_max_pool1d_backward");
}
template <typename T>
void global_avg_pool1d_forward(T* y, const T* x, const std::uint8_t* mask, std::int64_t B, std::int64_t T_,
                               std::int64_t C) {
  global_avg_forward_kernel<T><<<blocks_for(B * C), kThreads>>>(y, x, mask, B, T_, C);
  check_launch("global_avg_pool1d_forward");
}
template <typename T>
void global_avg_pool1d_backward(T* dx, const T* dy, const std::uint8_t* mask, std::int64_t B, std::int64_t T_,
                                std::int64_t C) {
  global_avg_backward_kernel<T><<<blocks_for(B * T_ * C), kThreads>>>(dx, dy, mask, B, T_, C);
  check_launch("global_avg_pool1d_backward");
}

#define PYSEQ_POOL_INSTANTIATE(T)                                                                        \
  template void max_pool1d_forward<T>(T*, std::int32_t*, const T*, const PoolShape&);                    \
  template void max_pool1d_backward<T>(T*, const T*, const std::int32_t*, const PoolShape&);             \
  template void avg_pool1d_forward<T>(T*, const T*, const PoolShape&);                                   \
  template void avg_pool1d_backward<T>(T*, const T*, const PoolShape&);                                  \
  template void global_max_pool1d_forward<T>(T*, std::int32_t*, const T*, const std::uint8_t*,           \
                                             std::int64_t, std::int64_t, std::int64_t);                  \
  template void global_max_pool1d_backward<T>(T*, const T*, const std::int32_t*, std::int64_t,           \
                                              std::int64_t, std::int64_t);                               \
  template void global_avg_pool1d_forward<T>(T*, const T*, const std::uint8_t*, std::int64_t,            \
                                             std::int64_t, std::int64_t);                                \
  template void global_avg_pool1d_backward<T>(T*, const T*, const std::uint8_t*, std::int64_t,           \
                                              std::int64_t, std::int64_t);
PYSEQ_POOL_INSTANTIATE(float)
PYSEQ_POOL_INSTANTIATE(double)
#undef PYSEQ_POOL_INSTANTIATE

}  // namespace pyseq::cuda
