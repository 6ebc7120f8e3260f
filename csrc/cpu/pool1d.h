// 1-D pooling over channels-last sequences, forward and backward (Keras semantics).
// Legend: B batch, T steps in, T' (T_out) steps out, C channels, P pool size, s stride.
//
// Window of output t': input steps [t'·s − pad_left, t'·s − pad_left + P) ∩ [0, T) (the
// bindings choose pad_left and T_out from "valid" / "same"; every window holds a real step).
// max: the largest value, its first occurrence takes the gradient; avg: the mean over the real
// steps of the window (padding is not counted). Global pools reduce over all T steps, or over the
// valid ones of an optional (B,T) mask; a row with no valid step gives 0 and a zero gradient.
#pragma once

#include <cstdint>

#include "isa.h"

namespace pyseq::cpu {

struct Pool1dShape {
  std::int64_t B, T, C, T_out, pool, stride, pad_left;
};

#define PYSEQ_DECLARE_POOL1D(ns)                                                                 \
  namespace ns {                                                                                 \
  /* y (B,T',C), argmax (B,T',C) step index of each max, x (B,T,C) */                            \
  template <typename T>                                                                          \
  void max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const Pool1dShape& s);         \
  template <typename T>                                                                          \
  void max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool1dShape& s);\
  template <typename T>                                                                          \
  void avg_pool1d_forward(T* y, const T* x, const Pool1dShape& s);                               \
  template <typename T>                                                                          \
  void avg_pool1d_backward(T* dx, const T* dy, const Pool1dShape& s);                            \
  /* y (B,C), argmax (B,C) (-1: no valid step), x (B,T,C), mask (B,T) or null */                 \
  template <typename T>                                                                          \
  void global_max_pool1d_forward(T* y, std::int32_t* argmax, const T* x,                         \
                                 const std::uint8_t* mask, std::int64_t B, std::int64_t T_,      \
                                 std::int64_t C);                                                \
  template <typename T>                                                                          \
  void global_max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax,                \
                                  std::int64_t B, std::int64_t T_, std::int64_t C);              \
  template <typename T>                                                                          \
  void global_avg_pool1d_forward(T* y, const T* x, const std::uint8_t* mask, std::int64_t B,     \
                                 std::int64_t T_, std::int64_t C);                               \
  template <typename T>                                                                          \
  void global_avg_pool1d_backward(T* dx, const T* dy, const std::uint8_t* mask, std::int64_t B, \
                                  std::int64_t T_, std::int64_t C);                              \
  }
PYSEQ_DECLARE_POOL1D(baseline)
PYSEQ_DECLARE_POOL1D(avx2)
PYSEQ_DECLARE_POOL1D(avx512)
#undef PYSEQ_DECLARE_POOL1D

// The same functions at the active ISA level (dispatch.cpp).
template <typename T>
void max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const Pool1dShape& s);
template <typename T>
void max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool1dShape& s);
template <typename T>
void avg_pool1d_forward(T* y, const T* x, const Pool1dShape& s);
template <typename T>
void avg_pool1d_backward(T* dx, const T* dy, const Pool1dShape& s);
template <typename T>
void global_max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const std::uint8_t* mask,
                               std::int64_t B, std::int64_t T_, std::int64_t C);
template <typename T>
void global_max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, std::int64_t B,
                                std::int64_t T_, std::int64_t C);
template <typename T>
void global_avg_pool1d_forward(T* y, const T* x, const std::uint8_t* mask, std::int64_t B,
                               std::int64_t T_, std::int64_t C);
template <typename T>
void global_avg_pool1d_backward(T* dx, const T* dy, const std::uint8_t* mask, std::int64_t B,
                                std::int64_t T_, std::int64_t C);

}  // namespace pyseq::cpu
