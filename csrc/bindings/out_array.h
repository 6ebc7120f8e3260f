// Output arrays for the conv1d and pooling bindings. A large output is written once by the kernel
// team right after allocation, and NumPy's allocation hands out fresh 4 KiB pages: the page
// faults and zeroing of a 32 MiB output cost a tenth of a large Conv1D call (and land unevenly on
// the team's threads). Large outputs therefore come from blocks that pyseq keeps when the arrays
// holding them die (a few, bounded in count and bytes, reused for the next call of a training
// loop), allocated 2 MiB aligned and marked for transparent huge pages when new.
#pragma once

#include <cstddef>
#include <vector>

#include <pybind11/numpy.h>

namespace pyseq::bind {

// A block of at least `bytes` (large outputs only), and its return when the array dies.
void* out_block_take(std::size_t bytes, std::size_t* capacity);
void out_block_give(void* p, std::size_t capacity);
constexpr std::size_t kOutBlockMin = std::size_t(4) << 20;

template <typename T>
pybind11::array_t<T> out_array(const std::vector<pybind11::ssize_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  if (n * sizeof(T) < kOutBlockMin) return pybind11::array_t<T>(shape);
  std::size_t capacity = 0;
  void* p = out_block_take(n * sizeof(T), &capacity);
  // The capsule's context carries the capacity back to out_block_give.
  pybind11::capsule owner(p, [](void* q) {
    const std::size_t cap = *static_cast<std::size_t*>(static_cast<void*>(static_cast<char*>(q) - 64));
    out_block_give(q, cap);
  });
  return pybind11::array_t<T>(shape, static_cast<T*>(p), owner);
}

}  // namespace pyseq::bind
