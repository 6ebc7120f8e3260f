#include "threads.h"

#include <atomic>

#include "blas.h"

namespace pyseq {

namespace {
int initial_threads() {
  int n = omp_get_max_threads();  // honours OMP_NUM_THREADS
  blas::set_threads(n);
  return n;
}
std::atomic<int>& thread_count() {
  static std::atomic<int> count{initial_threads()};
  return count;
}
}  // namespace

void set_num_threads(int n) {
  thread_count() = n;
  blas::set_threads(n);
}

int get_num_threads() { return thread_count(); }

SerialBlas::SerialBlas() : saved_(get_num_threads()) { blas::set_threads(1); }
SerialBlas::~SerialBlas() { blas::set_threads(saved_); }

}  // namespace pyseq
