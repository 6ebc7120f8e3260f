// The BLAS behind every matrix product in pyseq: scipy-openblas32 by default (symbols prefixed
// `scipy_`), MKL when built with PYSEQ_BLAS=mkl. Row-major wrappers, templated on the scalar.
#pragma once

#include <cstdint>
#include <string>

namespace pyseq::blas {

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C; row-major, leading dimensions in elements.
template <typename T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc);

// y (M or N) = alpha * op(A) x + beta * y, A (M,N) row-major.
template <typename T>
void gemv(bool trans, std::int64_t M, std::int64_t N, T alpha, const T* A, std::int64_t lda,
          const T* x, T beta, T* y);

void set_threads(int n);
int get_threads();
std::string name();     // e.g. "scipy-openblas32"
std::string version();  // the library's own configuration string

}  // namespace pyseq::blas
