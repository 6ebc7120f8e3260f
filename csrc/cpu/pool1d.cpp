// 1-D pooling forward and backward, channels-last. Compiled once per ISA level (see isa.h).
// Legend: B batch, T steps in, T' steps out, C channels, P pool size, s stride.
// Every loop runs along C, contiguous in this layout; the team splits rows of the output
// (forward) or batch rows (backward, whose windows may overlap and add into the same dx rows).
#include "pool1d.h"

#include <algorithm>
#include <cstring>

#include "rnn_common.h"

#ifndef PYSEQ_ISA
#error "PYSEQ_ISA must name the ISA namespace this file is compiled for"
#endif

namespace pyseq::cpu::PYSEQ_ISA {

namespace {

using i64 = std::int64_t;

// Real input steps [first, second) of output t'.
std::pair<i64, i64> window(const Pool1dShape& s, i64 t) {
  const i64 u0 = t * s.stride - s.pad_left;
  return {std::max<i64>(u0, 0), std::min<i64>(u0 + s.pool, s.T)};
}

// body(b0, b1) for this thread's batch rows.
template <class Body>
void for_my_batches(i64 B, Body&& body) {
  run_team([&](const Team& team) {
    auto [b0, b1] = team_share(B, team.tid, team.nth);
    if (b1 > b0) body(b0, b1);
  });
}

// body(b, t) for this thread's share of the B·n output rows.
template <class Body>
void for_my_rows(i64 B, i64 n, Body&& body) {
  run_team([&](const Team& team) {
    auto [r0, r1] = team_share(B * n, team.tid, team.nth);
    for (i64 r = r0; r < r1; ++r) body(r / n, r % n);
  });
}

}  // namespace

template <typename T>
void max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const Pool1dShape& s) {
  const i64 C = s.C;
  for_my_rows(s.B, s.T_out, [&](i64 b, i64 t) {
    auto [u0, u1] = window(s, t);
    T* __restrict out = y + (b * s.T_out + t) * C;
    std::int32_t* __restrict am = argmax + (b * s.T_out + t) * C;
    const T* xb = x + b * s.T * C;
    std::memcpy(out, xb + u0 * C, C * sizeof(T));
    std::fill(am, am + C, static_cast<std::int32_t>(u0));
    for (i64 u = u0 + 1; u < u1; ++u) {
      const T* __restrict xr = xb + u * C;
      const std::int32_t ui = static_cast<std::int32_t>(u);
#pragma omp simd
      for (i64 c = 0; c < C; ++c) {
        const bool gt = xr[c] > out[c];  // strict: the first maximum keeps the gradient
        out[c] = gt ? xr[c] : out[c];
        am[c] = gt ? ui : am[c];
      }
    }
  });
}

template <typename T>
void max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool1dShape& s) {
  const i64 C = s.C;
  for_my_batches(s.B, [&](i64 b0, i64 b1) {
    std::fill(dx + b0 * s.T * C, dx + b1 * s.T * C, T(0));
    for (i64 b = b0; b < b1; ++b)
      for (i64 t = 0; t < s.T_out; ++t) {
        const T* d = dy + (b * s.T_out + t) * C;
        const std::int32_t* am = argmax + (b * s.T_out + t) * C;
        T* dxb = dx + b * s.T * C;
        for (i64 c = 0; c < C; ++c) dxb[am[c] * C + c] += d[c];
      }
  });
}

template <typename T>
void avg_pool1d_forward(T* y, const T* x, const Pool1dShape& s) {
  const i64 C = s.C;
  for_my_rows(s.B, s.T_out, [&](i64 b, i64 t) {
    auto [u0, u1] = window(s, t);
    T* __restrict out = y + (b * s.T_out + t) * C;
    const T* xb = x + b * s.T * C;
    std::fill(out, out + C, T(0));
    for (i64 u = u0; u < u1; ++u) {
      const T* __restrict xr = xb + u * C;
#pragma omp simd
      for (i64 c = 0; c < C; ++c) out[c] += xr[c];
    }
    const T inv = T(1) / static_cast<T>(u1 - u0);
#pragma omp simd
    for (i64 c = 0; c < C; ++c) out[c] *= inv;
  });
}

template <typename T>
void avg_pool1d_backward(T* dx, const T* dy, const Pool1dShape& s) {
  const i64 C = s.C;
  for_my_batches(s.B, [&](i64 b0, i64 b1) {
    std::fill(dx + b0 * s.T * C, dx + b1 * s.T * C, T(0));
    for (i64 b = b0; b < b1; ++b)
      for (i64 t = 0; t < s.T_out; ++t) {
        auto [u0, u1] = window(s, t);
        const T* __restrict d = dy + (b * s.T_out + t) * C;
        const T inv = T(1) / static_cast<T>(u1 - u0);
        for (i64 u = u0; u < u1; ++u) {
          T* __restrict dxr = dx + (b * s.T + u) * C;
#pragma omp simd
          for (i64 c = 0; c < C; ++c) dxr[c] += d[c] * inv;
        }
      }
  });
}

template <typename T>
void global_max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const std::uint8_t* mask,
                               i64 B, i64 T_, i64 C) {
  for_my_batches(B, [&](i64 b0, i64 b1) {
    for (i64 b = b0; b < b1; ++b) {
      T* __restrict out = y + b * C;
      std::int32_t* __restrict am = argmax + b * C;
      bool any = false;
      for (i64 u = 0; u < T_; ++u) {
        if (mask && !mask[b * T_ + u]) continue;
        const T* __restrict xr = x + (b * T_ + u) * C;
        const std::int32_t ui = static_cast<std::int32_t>(u);
        if (!any) {
          std::memcpy(out, xr, C * sizeof(T));
          std::fill(am, am + C, ui);
          any = true;
          continue;
        }
#pragma omp simd
        for (i64 c = 0; c < C; ++c) {
          const bool gt = xr[c] > out[c];
          out[c] = gt ? xr[c] : out[c];
          am[c] = gt ? ui : am[c];
        }
      }
      if (!any) {  // every step masked: 0, and no step takes a gradient
        std::fill(out, out + C, T(0));
        std::fill(am, am + C, -1);
      }
    }
  });
}

template <typename T>
void global_max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, i64 B, i64 T_,
                                i64 C) {
  for_my_batches(B, [&](i64 b0, i64 b1) {
    std::fill(dx + b0 * T_ * C, dx + b1 * T_ * C, T(0));
    for (i64 b = b0; b < b1; ++b)
      for (i64 c = 0; c < C; ++c) {
        const std::int32_t u = argmax[b * C + c];
        if (u >= 0) dx[(b * T_ + u) * C + c] = dy[b * C + c];
      }
  });
}

template <typename T>
void global_avg_pool1d_forward(T* y, const T* x, const std::uint8_t* mask, i64 B, i64 T_, i64 C) {
  for_my_batches(B, [&](i64 b0, i64 b1) {
    for (i64 b = b0; b < b1; ++b) {
      T* __restrict out = y + b * C;
      std::fill(out, out + C, T(0));
      i64 n = 0;
      for (i64 u = 0; u < T_; ++u) {
        if (mask && !mask[b * T_ + u]) continue;
        ++n;
        const T* __restrict xr = x + (b * T_ + u) * C;
#pragma omp simd
        for (i64 c = 0; c < C; ++c) out[c] += xr[c];
      }
      const T inv = n ? T(1) / static_cast<T>(n) : T(0);  // no valid step: 0
#pragma omp simd
      for (i64 c = 0; c < C; ++c) out[c] *= inv;
    }
  });
}

template <typename T>
void global_avg_pool1d_backward(T* dx, const T* dy, const std::uint8_t* mask, i64 B, i64 T_,
                                i64 C) {
  for_my_batches(B, [&](i64 b0, i64 b1) {
    for (i64 b = b0; b < b1; ++b) {
      i64 n = 0;
      for (i64 u = 0; u < T_; ++u) n += !mask || mask[b * T_ + u];
      const T inv = n ? T(1) / static_cast<T>(n) : T(0);
      const T* __restrict d = dy + b * C;
      for (i64 u = 0; u < T_; ++u) {
        T* __restrict dxr = dx + (b * T_ + u) * C;
        const T m = (!mask || mask[b * T_ + u]) ? inv : T(0);
#pragma omp simd
        for (i64 c = 0; c < C; ++c) dxr[c] = d[c] * m;
      }
    }
  });
}

#define PYSEQ_INSTANTIATE_POOL1D(T)                                                              \
  template void max_pool1d_forward<T>(T*, std::int32_t*, const T*, const Pool1dShape&);          \
  template void max_pool1d_backward<T>(T*, const T*, const std::int32_t*, const Pool1dShape&);   \
  template void avg_pool1d_forward<T>(T*, const T*, const Pool1dShape&);                         \
  template void avg_pool1d_backward<T>(T*, const T*, const Pool1dShape&);                        \
  template void global_max_pool1d_forward<T>(T*, std::int32_t*, const T*, const std::uint8_t*,   \
                                             i64, i64, i64);                                     \
  template void global_max_pool1d_backward<T>(T*, const T*, const std::int32_t*, i64, i64, i64); \
  template void global_avg_pool1d_forward<T>(T*, const T*, const std::uint8_t*, i64, i64, i64);  \
  template void global_avg_pool1d_backward<T>(T*, const T*, const std::uint8_t*, i64, i64, i64);
PYSEQ_INSTANTIATE_POOL1D(float)
PYSEQ_INSTANTIATE_POOL1D(double)
#undef PYSEQ_INSTANTIATE_POOL1D

}  // namespace pyseq::cpu::PYSEQ_ISA
