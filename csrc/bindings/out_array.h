// Output arrays for the conv1d and pooling bindings. Large outputs are written once by the kernel
// team right after allocation; NumPy's allocation hands out fresh 4 KiB pages, and the page
// faults of a 32 MiB output cost a tenth of a large Conv1D call (and land unevenly on the team's
// threads). Large blocks are therefore 2 MiB aligned and marked for transparent huge pages
// (honoured where THP is set to "madvise" or "always"), 512 times fewer faults.
#pragma once

#include <cstdlib>
#include <new>
#include <vector>

#include <pybind11/numpy.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyseq::bind {

template <typename T>
pybind11::array_t<T> out_array(const std::vector<pybind11::ssize_t>& shape) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  constexpr std::size_t kHuge = std::size_t(2) << 20;
  const std::size_t bytes = n * sizeof(T);
  if (bytes < 2 * kHuge) return pybind11::array_t<T>(shape);
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
#endif
  pybind11::capsule owner(p, [](void* q) { std::free(q); });
  return pybind11::array_t<T>(shape, static_cast<T*>(p), owner);
}

}  // namespace pyseq::bind
