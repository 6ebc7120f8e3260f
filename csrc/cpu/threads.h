// One thread count for OpenMP and the BLAS together (pyseq.set_num_threads).
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#else
inline int omp_get_thread_num() { return 0; }
inline int omp_get_num_threads() { return 1; }
inline int omp_get_max_threads() { return 1; }
#endif

namespace pyseq {

void set_num_threads(int n);  // n >= 1, checked by the bindings
int get_num_threads();

// While alive, BLAS calls run on the calling thread only: for products issued from inside an
// OpenMP team, where a multi-threaded BLAS would oversubscribe the cores.
class SerialBlas {
 public:
  SerialBlas();
  ~SerialBlas();
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int saved_;
};

}  // namespace pyseq
