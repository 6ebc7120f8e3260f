#include "blas.h"

#include <cassert>
#include <climits>

#if defined(PYSEQ_BLAS_MKL)
#include <mkl.h>
#define PYSEQ_CBLAS(fn) cblas_##fn
#else
#include <cblas.h>  // the scipy-openblas32 header: every symbol carries the scipy_ prefix
#define PYSEQ_CBLAS(fn) scipy_cblas_##fn
#endif

namespace pyseq::blas {

namespace {
// 32-bit BLAS integers: the bindings keep every dimension below INT_MAX.
int to_int(std::int64_t v) {
  assert(v >= 0 && v <= INT_MAX);
  return static_cast<int>(v);
}
CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

template <>
void gemm<float>(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                 const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
                 float* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  PYSEQ_CBLAS(sgemm)(CblasRowMajor, op(ta), op(tb), to_int(M), to_int(N), to_int(K), alpha, A,
                     to_int(lda), B, to_int(ldb), beta, C, to_int(ldc));
}

template <>
void gemm<double>(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
                  const double* A, std::int64_t lda, const double* B, std::int64_t ldb,
                  double beta, double* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  PYSEQ_CBLAS(dgemm)(CblasRowMajor, op(ta), op(tb), to_int(M), to_int(N), to_int(K), alpha, A,
                     to_int(lda), B, to_int(ldb), beta, C, to_int(ldc));
}

template <>
void gemv<float>(bool trans, std::int64_t M, std::int64_t N, float alpha, const float* A,
                 std::int64_t lda, const float* x, float beta, float* y) {
  PYSEQ_CBLAS(sgemv)(CblasRowMajor, op(trans), to_int(M), to_int(N), alpha, A, to_int(lda), x, 1,
                     beta, y, 1);
}

template <>
void gemv<double>(bool trans, std::int64_t M, std::int64_t N, double alpha, const double* A,
                  std::int64_t lda, const double* x, double beta, double* y) {
  PYSEQ_CBLAS(dgemv)(CblasRowMajor, op(trans), to_int(M), to_int(N), alpha, A, to_int(lda), x, 1,
                     beta, y, 1);
}

#if defined(PYSEQ_BLAS_MKL)
void set_threads(int n) { mkl_set_num_threads(n); }
int get_threads() { return mkl_get_max_threads(); }
std::string name() { return "mkl"; }
std::string version() {
  char buf[256];
  mkl_get_version_string(buf, sizeof buf);
  return buf;
}
#else
void set_threads(int n) { scipy_openblas_set_num_threads(n); }
int get_threads() { return scipy_openblas_get_num_threads(); }
std::string name() { return "scipy-openblas32"; }
std::string version() { return scipy_openblas_get_config(); }
#endif

}  // namespace pyseq::blas
