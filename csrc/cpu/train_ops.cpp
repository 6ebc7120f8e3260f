// Training-path kernels: embedding gather / scatter-add, fused Adam step (see train_ops.h).
#include "train_ops.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "blas.h"
#include "threads.h"

namespace pyseq::cpu {

namespace {
// Below this many elements one thread is faster than waking a team.
constexpr std::int64_t kParallelMin = 1 << 15;
}

template <typename T, typename I>
void embedding_forward(T* out, const T* table, const I* idx, std::int64_t N, std::int64_t D) {
  // out (N,D) <- table (V,D) rows idx (N,)
#pragma omp parallel for schedule(static) num_threads(get_num_threads()) if (N * D >= kParallelMin)
  for (std::int64_t r = 0; r < N; ++r)
    std::memcpy(out + r * D, table + static_cast<std::int64_t>(idx[r]) * D, sizeof(T) * D);
}

template <typename T, typename I>
void embedding_backward(T* dtable, const T* dout, const I* idx, std::int64_t N, std::int64_t V,
                        std::int64_t D) {
  // dtable (V,D) <- scatter-add of dout (N,D) at rows idx: "out[r] = table[idx[r]]" backward.
  // Each thread owns a block of columns for all rows: no atomics, results independent of the
  // thread count.
  const bool par = V * D + N * D >= kParallelMin && D >= 16;
#pragma omp parallel num_threads(get_num_threads()) if (par)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const std::int64_t c0 = D * t / nt, c1 = D * (t + 1) / nt, w = c1 - c0;
    if (w > 0) {
      for (std::int64_t r = 0; r < V; ++r) std::memset(dtable + r * D + c0, 0, sizeof(T) * w);
      for (std::int64_t r = 0; r < N; ++r) {
        T* dst = dtable + static_cast<std::int64_t>(idx[r]) * D + c0;
        const T* src = dout + r * D + c0;
        for (std::int64_t c = 0; c < w; ++c) dst[c] += src[c];
      }
    }
  }
}

template <typename T>
void adam_update(T* var, T* m, T* v, T* v_hat, const T* g, std::int64_t n, T alpha,
                 double beta_1, double beta_2, T epsilon) {
  // var, m, v (, v_hat) updated in place from g, all (n,)
  const T a1 = T(1.0 - beta_1), a2 = T(1.0 - beta_2);
#pragma omp parallel for simd schedule(static) num_threads(get_num_threads()) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * a1;
    T vi = v[i] + (gi * gi - v[i]) * a2;
    m[i] = mi;
    v[i] = vi;
    if (v_hat) {
      vi = v_hat[i] > vi ? v_hat[i] : vi;
      v_hat[i] = vi;
    }
    var[i] -= alpha * mi / (std::sqrt(vi) + epsilon);
  }
}

namespace {
// [first, second) of n items for thread t of nt
inline std::pair<std::int64_t, std::int64_t> share(std::int64_t n, int t, int nt) {
  return {n * t / nt, n * (t + 1) / nt};
}
}  // namespace

template <typename T>
void dense_forward(T* y, const T* x, const T* w, const T* b, std::int64_t M, std::int64_t K,
                   std::int64_t U) {
  // y (M,U) = x (M,K) @ w (K,U) + b
  ensure_serial_blas();
#pragma omp parallel num_threads(get_num_threads()) if (M * K * U >= (1 << 18))
  {
    auto [r0, r1] = share(M, omp_get_thread_num(), omp_get_num_threads());
    if (r1 > r0) {
      if (b)
        for (std::int64_t r = r0; r < r1; ++r) std::memcpy(y + r * U, b, sizeof(T) * U);
      blas::gemm<T>(false, false, r1 - r0, U, K, T(1), x + r0 * K, K, w, U, b ? T(1) : T(0),
                    y + r0 * U, U);
    }
  }
}

template <typename T>
void dense_backward(T* dx, T* dw, T* db, const T* dz, const T* x, const T* w, std::int64_t M,
                    std::int64_t K, std::int64_t U) {
  ensure_serial_blas();
#pragma omp parallel num_threads(get_num_threads()) if (M * K * U >= (1 << 18))
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    // dx = dz @ w^T                     (x @ w)
    auto [r0, r1] = share(M, t, nt);
    if (r1 > r0)
      blas::gemm<T>(false, true, r1 - r0, K, U, T(1), dz + r0 * U, U, w, U, T(0), dx + r0 * K, K);
    // dw = x^T @ dz, rows [k0, k1) of dw from columns [k0, k1) of x
    auto [k0, k1] = share(K, t, nt);
    if (k1 > k0)
      blas::gemm<T>(true, false, k1 - k0, U, M, T(1), x + k0, K, dz, U, T(0), dw + k0 * U, U);
    // db = column sums of dz            (+ b)
    auto [c0, c1] = share(U, t, nt);
    if (db && c1 > c0) {
      for (std::int64_t c = c0; c < c1; ++c) db[c] = T(0);
      for (std::int64_t r = 0; r < M; ++r) {
        const T* row = dz + r * U;
        for (std::int64_t c = c0; c < c1; ++c) db[c] += row[c];
      }
    }
  }
}

template void dense_forward<float>(float*, const float*, const float*, const float*,
                                   std::int64_t, std::int64_t, std::int64_t);
template void dense_forward<double>(double*, const double*, const double*, const double*,
                                    std::int64_t, std::int64_t, std::int64_t);
template void dense_backward<float>(float*, float*, float*, const float*, const float*,
                                    const float*, std::int64_t, std::int64_t, std::int64_t);
template void dense_backward<double>(double*, double*, double*, const double*, const double*,
                                     const double*, std::int64_t, std::int64_t, std::int64_t);

#define PYSEQ_EMB(T, I)                                                                       \
  template void embedding_forward<T, I>(T*, const T*, const I*, std::int64_t, std::int64_t); \
  template void embedding_backward<T, I>(T*, const T*, const I*, std::int64_t, std::int64_t, \
                                         std::int64_t);
PYSEQ_EMB(float, std::int32_t)
PYSEQ_EMB(float, std::int64_t)
PYSEQ_EMB(double, std::int32_t)
PYSEQ_EMB(double, std::int64_t)
#undef PYSEQ_EMB
template void adam_update<float>(float*, float*, float*, float*, const float*, std::int64_t,
                                 float, double, double, float);
template void adam_update<double>(double*, double*, double*, double*, const double*,
                                  std::int64_t, double, double, double, double);

}  // namespace pyseq::cpu
