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
// Keeps the BLAS at one thread (its default is one per core, and another user of the same
// scipy-openblas32 library may change it); called before each team starts, and every BLAS call
// pyseq makes is made from inside a team.
void ensure_serial_blas();

// pyseq keeps its BLAS single-threaded and splits products across its own OpenMP team (see
// rnn_common.h team_gemm): a second thread pool spinning beside the team costs whole scheduler
// time slices on a machine with few cores. So the thread count governs OpenMP and BLAS together.

}  // namespace pyseq
