// The one-thread-per-element launches of conv1d.cu and pool1d.cu: fixed-size blocks, a grid capped
// at 65535·32 blocks, and grid-stride loops that cover what the cap leaves out.
#pragma once

#include <cstdint>

namespace pyseq::cuda::elementwise {

constexpr int kThreads = 256;

inline unsigned blocks_for(std::int64_t n) {
  const std::int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65535 * 32 ? b : 65535 * 32);  // grid-stride loops cover the rest
}

}  // namespace pyseq::cuda::elementwise

// for (i over [0, n)) with this thread's share of a grid-stride loop.
#define PYSEQ_GRID_STRIDE(i, n) \
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < (n); i += std::int64_t(gridDim.x) * blockDim.x)
