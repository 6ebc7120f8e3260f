// The kernels' element-wise activations applied to an array, for testing their accuracy at every
// ISA level (tests/test_activations.py). Compiled once per ISA level (see isa.h).
#include <cstdint>

#include "activations.h"
#include "vec_math.h"

namespace pyseq::cpu::PYSEQ_ISA {

template <typename T>
void apply_activation(Activation which, const T* x, T* y, std::int64_t n) {
  using A = math::Act<T>;
  switch (which) {
    case Activation::sigmoid:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) y[i] = A::sigmoid(x[i]);
      break;
    case Activation::tanh:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) y[i] = A::tanh(x[i]);
      break;
  }
}

template void apply_activation<float>(Activation, const float*, float*, std::int64_t);
template void apply_activation<double>(Activation, const double*, double*, std::int64_t);

}  // namespace pyseq::cpu::PYSEQ_ISA
