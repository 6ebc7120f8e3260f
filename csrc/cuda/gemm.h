// Row-major matrix products on cuBLAS for the CUDA kernels: the only file that includes cuBLAS's
// headers is gemm.cu, so the kernels compile without them.
#pragma once

namespace pyseq::cuda {

// C (m×n) = alpha·op(A)·op(B) + beta·C, all row-major with leading dimensions lda, ldb, ldc;
// op(A) is m×k, op(B) k×n. On the legacy default stream, one cuBLAS handle per device.
template <typename T>
void gemm(const char* op, bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* A,
          int lda, const T* B, int ldb, T beta, T* C, int ldc);

// The column-major (BLAS) call that computes a row-major product: row-major C = op(A)·op(B) is
// column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, and a row-major buffer read column-major is its transpose, so
// B comes first, with the same transpose flags. Checked on the host by tests/cuda_gemm_check.cu.
struct ColumnMajorGemm {
  bool trans_a, trans_b;
  int m, n, k;
  const void* A;
  int lda;
  const void* B;
  int ldb;
};
inline ColumnMajorGemm column_major(bool trans_a, bool trans_b, int m, int n, int k, const void* A, int lda,
                                    const void* B, int ldb) {
  return ColumnMajorGemm{trans_b, trans_a, n, m, k, B, ldb, A, lda};
}

}  // namespace pyseq::cuda
