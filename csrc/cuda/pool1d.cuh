// One element of each 1-D pooling op, forward and backward, for host and device: the kernels of
// pool1d.cu run them one thread per element, and tests/cuda_window_check.cu runs the same functions
// on the host (without a GPU) against the float64 reference. Shapes and legend: pool1d.cu.
#pragma once

#include <cstdint>

#include "cuda_ops.h"

namespace pyseq::cuda {

// The real steps [t0, t1) of window t' (padding never takes part).
__host__ __device__ inline void pool_window(const PoolShape& s, std::int64_t to, std::int64_t* t0,
                                            std::int64_t* t1) {
  const std::int64_t start = to * s.stride - s.pad_left;
  *t0 = start > 0 ? start : 0;
  *t1 = start + s.pool < s.T ? start + s.pool : s.T;
}

// The windows t' in [lo, hi] that contain step t: t + pad_left in [t'·stride, t'·stride + pool).
__host__ __device__ inline void pool_windows_of(const PoolShape& s, std::int64_t t, std::int64_t* lo,
                                                std::int64_t* hi) {
  const std::int64_t u = t + s.pad_left;
  const std::int64_t first = u - s.pool + 1;
  *lo = first <= 0 ? 0 : (first + s.stride - 1) / s.stride;
  const std::int64_t last = u / s.stride;
  *hi = last < s.T_out - 1 ? last : s.T_out - 1;
}

// y[at] for at = (b, t', c): the window's first maximum, its step in *arg.
template <typename T>
__host__ __device__ inline T max_pool_y_at(std::int64_t at, const T* x, const PoolShape& s, std::int32_t* arg) {
  const std::int64_t c = at % s.C, to = at / s.C % s.T_out, b = at / s.C / s.T_out;
  std::int64_t t0, t1;
  pool_window(s, to, &t0, &t1);
  std::int64_t best = t0;
  T m = x[(b * s.T + t0) * s.C + c];
  for (std::int64_t t = t0 + 1; t < t1; ++t) {
    const T v = x[(b * s.T + t) * s.C + c];
    if (v > m) {
      m = v;
      best = t;
    }
  }
  *arg = std::int32_t(best);
  return m;
}

// dx[at] for at = (b, t, c): Σ over the windows whose first maximum is step t.
template <typename T>
__host__ __device__ inline T max_pool_dx_at(std::int64_t at, const T* dy, const std::int32_t* argmax,
                                            const PoolShape& s) {
  const std::int64_t c = at % s.C, t = at / s.C % s.T, b = at / s.C / s.T;
  std::int64_t lo, hi;
  pool_windows_of(s, t, &lo, &hi);
  T acc = 0;
  for (std::int64_t to = lo; to <= hi; ++to) {
    const std::int64_t o = (b * s.T_out + to) * s.C + c;
    if (argmax[o] == t) acc += dy[o];
  }
  return acc;
}

template <typename T>
__host__ __device__ inline T avg_pool_y_at(std::int64_t at, const T* x, const PoolShape& s) {
  const std::int64_t c = at % s.C, to = at / s.C % s.T_out, b = at / s.C / s.T_out;
  std::int64_t t0, t1;
  pool_window(s, to, &t0, &t1);
  T sum = 0;
  for (std::int64_t t = t0; t < t1; ++t) sum += x[(b * s.T + t) * s.C + c];
  return sum / T(t1 - t0);
}

// dx[t] = Σ over the windows holding t of dy[t'] / (real steps of t').
template <typename T>
__host__ __device__ inline T avg_pool_dx_at(std::int64_t at, const T* dy, const PoolShape& s) {
  const std::int64_t c = at % s.C, t = at / s.C % s.T, b = at / s.C / s.T;
  std::int64_t lo, hi;
  pool_windows_of(s, t, &lo, &hi);
  T acc = 0;
  for (std::int64_t to = lo; to <= hi; ++to) {
    std::int64_t t0, t1;
    pool_window(s, to, &t0, &t1);
    acc += dy[(b * s.T_out + to) * s.C + c] / T(t1 - t0);
  }
  return acc;
}

// y[at] for at = (b, c) of (B,C): the first maximum over the valid steps (0 and *arg = -1 if none).
template <typename T>
__host__ __device__ inline T global_max_y_at(std::int64_t at, const T* x, const std::uint8_t* mask,
                                             std::int64_t T_, std::int64_t C, std::int32_t* arg) {
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
  *arg = std::int32_t(best);
  return best < 0 ? T(0) : m;
}

template <typename T>
__host__ __device__ inline T global_max_dx_at(std::int64_t at, const T* dy, const std::int32_t* argmax,
                                              std::int64_t T_, std::int64_t C) {
  const std::int64_t c = at % C, t = at / C % T_, b = at / C / T_;
  return argmax[b * C + c] == t ? dy[b * C + c] : T(0);
}

template <typename T>
__host__ __device__ inline T global_avg_y_at(std::int64_t at, const T* x, const std::uint8_t* mask,
                                             std::int64_t T_, std::int64_t C) {
  const std::int64_t c = at % C, b = at / C;
  T sum = 0;
  std::int64_t n = 0;
  for (std::int64_t t = 0; t < T_; ++t) {
    if (mask && !mask[b * T_ + t]) continue;
    sum += x[(b * T_ + t) * C + c];
    ++n;
  }
  return n ? sum / T(n) : T(0);
}

template <typename T>
__host__ __device__ inline T global_avg_dx_at(std::int64_t at, const T* dy, const std::uint8_t* mask,
                                              std::int64_t T_, std::int64_t C) {
  const std::int64_t c = at % C, t = at / C % T_, b = at / C / T_;
  if (mask && !mask[b * T_ + t]) return T(0);
  std::int64_t n = T_;
  if (mask) {
    n = 0;
    for (std::int64_t u = 0; u < T_; ++u) n += mask[b * T_ + u] != 0;
  }
  return dy[b * C + c] / T(n);
}

}  // namespace pyseq::cuda
