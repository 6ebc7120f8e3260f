// Host program for tests/test_cuda_compile.py: the row-major to column-major mapping that gemm.cu
// hands to cuBLAS (csrc/cuda/gemm.h column_major), run through a plain column-major BLAS-semantics
// product on the host and compared with the row-major product it stands for, for every transpose
// combination and padded leading dimensions. Prints "ok" or the first mismatch.
#include <cmath>
#include <cstdio>
#include <vector>

#include "../csrc/cuda/gemm.h"

namespace {

// BLAS gemm semantics, column-major: C (m×n, ldc) = op(A)·op(B), op(A) m×k, op(B) k×n.
void colmajor_gemm(bool ta, bool tb, int m, int n, int k, const double* A, int lda, const double* B, int ldb,
                   double* C, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) s += (ta ? A[p + i * lda] : A[i + p * lda]) * (tb ? B[j + p * ldb] : B[p + j * ldb]);
      C[i + j * ldc] = s;
    }
}

}  // namespace

int main() {
  unsigned seed = 12345;
  auto rnd = [&] { seed = seed * 1103515245u + 12345u; return double(seed >> 8 & 0xFFFF) / 65536.0 - 0.5; };
  for (int m : {1, 3, 7}) for (int n : {1, 2, 5}) for (int k : {1, 4, 6}) for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      // row-major op(A) m×k stored as A (m×k) or (k×m), with padded leading dimensions
      const int lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
      std::vector<double> A((ta ? k : m) * lda), B((tb ? n : k) * ldb), C(m * ldc, 0.0), want(m * n);
      for (double& x : A) x = rnd();
      for (double& x : B) x = rnd();
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double s = 0;
          for (int p = 0; p < k; ++p) s += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
          want[i * n + j] = s;
        }
      const pyseq::cuda::ColumnMajorGemm c = pyseq::cuda::column_major(ta, tb, m, n, k, A.data(), lda, B.data(), ldb);
      colmajor_gemm(c.trans_a, c.trans_b, c.m, c.n, c.k, static_cast<const double*>(c.A), c.lda,
                    static_cast<const double*>(c.B), c.ldb, C.data(), ldc);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j)
          if (std::fabs(C[i * ldc + j] - want[i * n + j]) > 1e-12) {
            std::printf("mismatch m=%d n=%d k=%d ta=%d tb=%d at (%d, %d)\n", m, n, k, ta, tb, i, j);
            return 1;
          }
    }
  std::printf("ok\n");
  return 0;
}
