// The attention dropout generator for the CUDA kernels: csrc/cpu/attention.h's, for host and device
// (the hashes are the same text, csrc/cpu/dropout_hash.inc; tests/test_cuda_compile.py runs the
// generator on the host against the CPU kernel's mask).
// Weight (b, n, i, j) is kept iff bits >= floor(p·2^32), with
//   row  = splitmix64(seed ^ splitmix64((b·N + n)·Lq + i))
//   bits = fmix32(low32(row) ^ high32(row) ^ j·0x9E3779B9)
#pragma once

#include <cmath>
#include <cstdint>

namespace pyseq::cuda {

#include "../cpu/dropout_hash.inc"  // splitmix64, dropout_row_key, dropout_bits

inline std::uint32_t dropout_threshold(double p) {  // p in [0, 1): exact in double
  return static_cast<std::uint32_t>(std::floor(p * 4294967296.0));
}

}  // namespace pyseq::cuda
