// Row-major matrix products on cuBLAS for the CUDA kernels: the only file that includes cuBLAS's
// headers is gemm.cu, so the kernels compile without them.
#pragma once

namespace pyseq::cuda {

// C (m×n) = alpha·op(A)·op(B) + beta·C, all row-major with leading dimensions lda, ldb, ldc;
// op(A) is m×k, op(B) k×n. On the legacy default stream, one cuBLAS handle per device.
template <typename T>
void gemm(const char* op, bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* A,
          int lda, const T* B, int ldb, T beta, T* C, int ldc);

}  // namespace pyseq::cuda
