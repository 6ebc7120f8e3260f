// 1-D convolution over channels-last sequences, forward and backward (Keras layout).
// Legend: B batch, T steps in, T' (T_out) steps out, C channels, F filters, K kernel width,
// G groups (C/G input and F/G output channels per group), s stride, d dilation.
//
//   y[b, t', g·F/G + j] = bias[.] + Σ_k Σ_i x[b, t'·s + k·d − pad_left, g·C/G + i] · kernel[k, i, g·F/G + j]
// with x read as zero outside [0, T). The bindings turn padding "valid" / "same" / "causal" into
// pad_left and T_out; the kernels only need those two numbers.
#pragma once

#include <cstdint>

#include "isa.h"

namespace pyseq::cpu {

struct Conv1dShape {
  std::int64_t B, T, C, F, K;  // x (B,T,C), kernel (K, C/G, F)
  std::int64_t T_out;          // y (B,T_out,F)
  std::int64_t stride, dilation, groups, pad_left;
};

template <typename T>
struct Conv1dForward {
  T* y;              // (B,T_out,F)
  const T* x;        // (B,T,C)
  const T* kernel;   // (K,C/G,F)
  const T* bias;     // (F,) or null
  Conv1dShape s;
};

template <typename T>
struct Conv1dBackward {
  T* dx;             // (B,T,C)
  T* dkernel;        // (K,C/G,F)
  T* dbias;          // (F,) or null (no bias in forward)
  const T* dy;       // (B,T_out,F)
  const T* x;        // (B,T,C), forward's input
  const T* kernel;   // (K,C/G,F)
  Conv1dShape s;
};

template <typename T> void conv1d_forward(const Conv1dForward<T>& a);
template <typename T> void conv1d_backward(const Conv1dBackward<T>& a);

#define PYSEQ_DECLARE_CONV1D_ISA(ns)                                       \
  namespace ns {                                                           \
  template <typename T> void conv1d_forward(const Conv1dForward<T>& a);    \
  template <typename T> void conv1d_backward(const Conv1dBackward<T>& a);  \
  }
PYSEQ_DECLARE_CONV1D_ISA(baseline)
PYSEQ_DECLARE_CONV1D_ISA(avx2)
PYSEQ_DECLARE_CONV1D_ISA(avx512)
#undef PYSEQ_DECLARE_CONV1D_ISA

}  // namespace pyseq::cpu
