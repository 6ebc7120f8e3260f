// Element-wise activations over an array (the same code the fused kernels inline), dispatched
// by ISA; used by the tests to measure their accuracy.
#pragma once

#include <cstdint>

namespace pyseq::cpu {

enum class Activation { sigmoid, tanh };

template <typename T> void apply_activation(Activation which, const T* x, T* y, std::int64_t n);

#define PYSEQ_DECLARE_ACTIVATION_ISA(ns)                                                  \
  namespace ns {                                                                          \
  template <typename T> void apply_activation(Activation which, const T* x, T* y, std::int64_t n); \
  }
PYSEQ_DECLARE_ACTIVATION_ISA(baseline)
PYSEQ_DECLARE_ACTIVATION_ISA(avx2)
PYSEQ_DECLARE_ACTIVATION_ISA(avx512)
#undef PYSEQ_DECLARE_ACTIVATION_ISA

}  // namespace pyseq::cpu
