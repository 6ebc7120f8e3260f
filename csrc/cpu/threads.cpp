#include "threads.h"

#include <atomic>

#include "blas.h"

namespace pyseq {

namespace {
std::atomic<int>& thread_count() {
  static std::atomic<int> count{omp_get_max_threads()};  // honours OMP_NUM_THREADS
  return count;
}
}  // namespace

void set_num_threads(int n) { thread_count() = n; }

int get_num_threads() { return thread_count(); }

void ensure_serial_blas() {
  if (blas::get_threads() != 1) blas::set_threads(1);
}

}  // namespace pyseq
