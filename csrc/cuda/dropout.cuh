// The attention dropout generator for the CUDA kernels: the twin of csrc/cpu/attention.h's, for
// host and device (tests/test_cuda_compile.py runs it on the host against the CPU kernel's mask).
// Weight (b, n, i, j) is kept iff bits >= floor(p·2^32), with
//   row  = splitmix64(seed ^ splitmix64((b·N + n)·Lq + i))
//   bits = fmix32(low32(row) ^ high32(row) ^ j·0x9E3779B9)
#pragma once

#include <cmath>
#include <cstdint>

namespace pyseq::cuda {

__host__ __device__ __forceinline__ std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__host__ __device__ __forceinline__ std::uint64_t dropout_row_key(std::uint64_t seed, std::uint64_t row) {
  return splitmix64(seed ^ splitmix64(row));
}

__host__ __device__ __forceinline__ std::uint32_t dropout_bits(std::uint64_t row_key, std::uint32_t j) {
  std::uint32_t x = static_cast<std::uint32_t>(row_key) ^ static_cast<std::uint32_t>(row_key >> 32) ^
                    (j * 0x9E3779B9u);
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}

inline std::uint32_t dropout_threshold(double p) {  // p in [0, 1): exact in double
  return static_cast<std::uint32_t>(std::floor(p * 4294967296.0));
}

}  // namespace pyseq::cuda
