// Element-wise activations for the fused gate passes.
//
// float32: branch-free exp / sigmoid / tanh written so that GCC and Clang auto-vectorise the
// loops that call them (magic-number rounding instead of nearbyint, bit casts through memcpy,
// selects instead of branches). Each ISA build of a kernel file inlines them at its own width.
// Accuracy over the whole float range (tests/test_activations.py): a few ulp each.
// float64: the C library's functions; float64 is for checking, not for speed.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "isa.h"

namespace pyseq::math {
PYSEQ_ISA_BEGIN

inline float bits_to_float(std::int32_t i) { float f; std::memcpy(&f, &i, 4); return f; }
inline std::int32_t float_to_bits(float f) { std::int32_t i; std::memcpy(&i, &f, 4); return i; }

// exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2 / 2, exp(r) by its Taylor polynomial
// to degree 7 (truncation error < 2e-9 relative). Inputs are clamped to [-87.3, 87]: the top
// stays below 2^126 so that fast_reciprocal of 1 + exp(x) remains a normal number.
inline float fast_exp(float x) {
  // Ternary clamps: they compile to vector min/max, where std::fmin may become a libm call.
  x = x < -87.33654f ? -87.33654f : x;
  x = x > 87.0f ? 87.0f : x;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  float t = x * 1.44269504088896341f + shifter;
  float n = t - shifter;
  std::int32_t ni = float_to_bits(t) - float_to_bits(shifter);
  float r = x - n * 0.693145751953125f;  // ln2 split in a high part exact in float ...
  r = r - n * 1.428606765330187045e-06f;  // ... and the rest
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // Scale by 2^n in two halves so that n = 128 (x near the top of the range) does not overflow
  // the exponent field.
  std::int32_t n1 = ni >> 1, n2 = ni - n1;
  return p * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
}

// 1 / d for d in [1, 2^126): a first guess from the exponent bits (~4 bits right), then three
// Newton steps r += r (1 - d r), each doubling the correct bits. Within 0.5 ulp where the steps
// contract to FMAs (AVX2, AVX-512 builds), 2 ulp without; a vector division costs far more.
inline float fast_reciprocal(float d) {
  float r = bits_to_float(0x7EF311C3 - float_to_bits(d));
  for (int i = 0; i < 3; ++i) {
    const float e = 1.0f - d * r;
    r = r + r * e;
  }
  return r;
}

inline float fast_sigmoid(float x) { return fast_reciprocal(1.0f + fast_exp(-x)); }

// tanh: x * P(x^2) near zero (a least-squares fit, 1.2 ulp on |x| <= 0.625), where the exp form
// would cancel; 1 - 2 / (exp(2|x|) + 1) with the sign restored elsewhere.
inline float fast_tanh(float x) {
  float ax = std::fabs(x);
  float s = x * x;
  float p = -0.00566066f;
  p = p * s + 0.02058059f;
  p = p * s - 0.05371263f;
  p = p * s + 0.1333091f;
  p = p * s - 0.33333242f;
  p = p * s + 1.0f;
  float small = x * p;
  float big = 1.0f - 2.0f * fast_reciprocal(fast_exp(2.0f * ax) + 1.0f);
  big = std::copysign(big, x);
  return ax < 0.625f ? small : big;
}

template <typename T> struct Act;

template <> struct Act<float> {
  static float sigmoid(float x) { return fast_sigmoid(x); }
  static float tanh(float x) { return fast_tanh(x); }
};

template <> struct Act<double> {
  static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static double tanh(double x) { return std::tanh(x); }
};

PYSEQ_ISA_END
}  // namespace pyseq::math
