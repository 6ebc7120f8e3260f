// 1-D pooling over channels-last sequences on the GPU, forward and backward (the semantics of
// csrc/cpu/pool1d.h and docs/conv1d_contract.md): windowed max and average with TensorFlow's
// padding (padding never takes part; an average divides by the window's real steps), and global
// max and average over the valid steps of an optional mask. Gradients are gathered (one thread
// per input element), so they are deterministic and need no atomics.
// Legend: B batch, T steps in, T' (T_out) steps out, C channels.
#include <cuda_runtime.h>

#include "cuda_ops.h"

namespace pyseq::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::int64_t n) {
  const std::int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 32 ? b : 65535 * 32);
}

#define PYSEQ_GRID_STRIDE(i, n) \
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < (n); i += std::int64_t(gridDim.x) * blockDim.x)

// The real steps [t0, t1) of window t'.
__device__ __forceinline__ void window(const PoolShape& s, std::int64_t to, std::int64_t* t0, std::int64_t* t1) {
  const std::int64_t start = to * s.stride - s.pad_left;
  *t0 = start > 0 ? start : 0;
  *t1 = start + s.pool < s.T ? start + s.pool : s.T;
}

// The windows t' in [lo, hi] that contain step t.
__device__ __forceinline__ void windows_of(const PoolShape& s, std::int64_t t, std::int64_t* lo, std::int64_t* hi) {
  const std::int64_t u = t + s.pad_left;  // t' covers u in [t'·stride, t'·stride + pool)
  const std::int64_t first = u - s.pool + 1;
  *lo = first <= 0 ? 0 : (first + s.stride - 1) / s.stride;
  const std::int64_t last = u / s.stride;
  *hi = last < s.T_out - 1 ? last : s.T_out - 1;
}

// y, argmax (B,T_out,C) <- x (B,T,C): the first maximum of each window.
template <typename T>
__global__ void max_forward_kernel(T* __restrict__ y, std::int32_t* __restrict__ argmax,
                                   const T* __restrict__ x, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T_out * s.C) {
    const std::int64_t c = at % s.C, to = at / s.C % s.T_out, b = at / s.C / s.T_out;
    std::int64_t t0, t1;
    window(s, to, &t0, &t1);
    std::int64_t best = t0;
    T m = x[(b * s.T + t0) * s.C + c];
    for (std::int64_t t = t0 + 1; t < t1; ++t) {
      const T v = x[(b * s.T + t) * s.C + c];
      if (v > m) {
        m = v;
        best = t;
      }
    }
    y[at] = m;
    argmax[at] = std::int32_t(best);
  }
}

// dx (B,T,C) = Σ over the windows whose first maximum is step t:  y[t'] = x[argmax[t']].
template <typename T>
__global__ void max_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                    const std::int32_t* __restrict__ argmax, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T * s.C) {
    const std::int64_t c = at % s.C, t = at / s.C % s.T, b = at / s.C / s.T;
    std::int64_t lo, hi;
    windows_of(s, t, &lo, &hi);
    T acc = 0;
    for (std::int64_t to = lo; to <= hi; ++to) {
      const std::int64_t o = (b * s.T_out + to) * s.C + c;
      if (argmax[o] == t) acc += dy[o];
    }
    dx[at] = acc;
  }
}

template <typename T>
__global__ void avg_forward_kernel(T* __restrict__ y, const T* __restrict__ x, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T_out * s.C) {
    const std::int64_t c = at % s.C, to = at / s.C % s.T_out, b = at / s.C / s.T_out;
    std::int64_t t0, t1;
    window(s, to, &t0, &t1);
    T sum = 0;
    for (std::int64_t t = t0; t < t1; ++t) sum += x[(b * s.T + t) * s.C + c];
    y[at] = sum / T(t1 - t0);
  }
}

// dx[t] = Σ over the windows holding t of dy[t'] / (real steps of t'):  y[t'] = mean(x[t0..t1)).
template <typename T>
__global__ void avg_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy, PoolShape s) {
  PYSEQ_GRID_STRIDE(at, s.B * s.T * s.C) {
    const std::int64_t c = at % s.C, t = at / s.C % s.T, b = at / s.C / s.T;
    std::int64_t lo, hi;
    windows_of(s, t, &lo, &hi);
    T acc = 0;
    for (std::int64_t to = lo; to <= hi; ++to) {
      std::int64_t t0, t1;
      window(s, to, &t0, &t1);
      acc += dy[(b * s.T_out + to) * s.C + c] / T(t1 - t0);
    }
    dx[at] = acc;
  }
}

// y (B,C), argmax (B,C) <- x (B,T,C) over the valid steps; -1 and 0 for a row without one.
template <typename T>
__global__ void global_max_forward_kernel(T* __restrict__ y, std::int32_t* __restrict__ argmax,
                                          const T* __restrict__ x, const std::uint8_t* __restrict__ mask,
                                          std::int64_t B, std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * C) {
    const std::int64_t c = at % C, b = at / C;
    std::int64_t best = -1;
    T m = 0;
    for (std::int64_t t = 0; t < T_; ++t) {
      if (mask && !mask[b * T_ + t]) continue;
      const T v = x[(b * T_ + t) * C + c];
      if (best < 0 || v > m) {
        m = v;
        best = t;
      }
    }
    y[at] = best < 0 ? T(0) : m;
    argmax[at] = std::int32_t(best);
  }
}

template <typename T>
__global__ void global_max_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                           const std::int32_t* __restrict__ argmax, std::int64_t B,
                                           std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * T_ * C) {
    const std::int64_t c = at % C, t = at / C % T_, b = at / C / T_;
    dx[at] = argmax[b * C + c] == t ? dy[b * C + c] : T(0);
  }
}

template <typename T>
__global__ void global_avg_forward_kernel(T* __restrict__ y, const T* __restrict__ x,
                                          const std::uint8_t* __restrict__ mask, std::int64_t B,
                                          std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * C) {
    const std::int64_t c = at % C, b = at / C;
    T sum = 0;
    std::int64_t n = 0;
    for (std::int64_t t = 0; t < T_; ++t) {
      if (mask && !mask[b * T_ + t]) continue;
      sum += x[(b * T_ + t) * C + c];
      ++n;
    }
    y[at] = n ? sum / T(n) : T(0);
  }
}

template <typename T>
__global__ void global_avg_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                           const std::uint8_t* __restrict__ mask, std::int64_t B,
                                           std::int64_t T_, std::int64_t C) {
  PYSEQ_GRID_STRIDE(at, B * T_ * C) {
    const std::int64_t c = at % C, t = at / C % T_, b = at / C / T_;
    if (mask && !mask[b * T_ + t]) {
      dx[at] = T(0);
      continue;
    }
    std::int64_t n = T_;
    if (mask) {
      n = 0;
      for (std::int64_t u = 0; u < T_; ++u) n += mask[b * T_ + u] != 0;
    }
    dx[at] = dy[b * C + c] / T(n);
  }
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
