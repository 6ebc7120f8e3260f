// cuBLAS behind gemm.h; the row-major to column-major mapping is gemm.h's column_major.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm.h"

namespace pyseq::cuda {

namespace {

std::mutex g_handles_mutex;
std::vector<cublasHandle_t> g_handles;  // by device; created on first use, kept for the process

[[noreturn]] void fail(const char* op, const char* what, cublasStatus_t s) {
  throw std::runtime_error(std::string("[") + op + "] cuBLAS error in " + what + ": " +
                           cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
}

cublasHandle_t handle(const char* op) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    throw std::runtime_error(std::string("[") + op + "] CUDA error in cudaGetDevice");
  std::lock_guard<std::mutex> lock(g_handles_mutex);
  if (g_handles.size() <= std::size_t(device)) g_handles.resize(device + 1, nullptr);
  if (!g_handles[device]) {
    cublasHandle_t h = nullptr;
    const cublasStatus_t s = cublasCreate(&h);
    if (s != CUBLAS_STATUS_SUCCESS) fail(op, "cublasCreate", s);
    cublasSetStream(h, nullptr);  // the legacy default stream, like every pyseq kernel
    g_handles[device] = h;
  }
  return g_handles[device];
}

cublasStatus_t call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                    const float* beta, float* C, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                    int k, const double* alpha, const double* A, int lda, const double* B, int ldb,
                    const double* beta, double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

template <typename T>
void gemm(const char* op, bool trans_a, bool trans_b, int m, int n, int k, T alpha, const T* A,
          int lda, const T* B, int ldb, T beta, T* C, int ldc) {
  if (m == 0 || n == 0) return;
  const ColumnMajorGemm c = column_major(trans_a, trans_b, m, n, k, A, lda, B, ldb);
  const cublasStatus_t s =
      call(handle(op), c.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, c.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, c.m,
           c.n, c.k, &alpha, static_cast<const T*>(c.A), c.lda, static_cast<const T*>(c.B), c.ldb, &beta, C, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) fail(op, "gemm", s);
}

template void gemm<float>(const char*, bool, bool, int, int, int, float, const float*, int,
                          const float*, int, float, float*, int);
template void gemm<double>(const char*, bool, bool, int, int, int, double, const double*, int,
                           const double*, int, double, double*, int);

}  // namespace pyseq::cuda
