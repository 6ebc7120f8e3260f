// The step loop's product against a weight matrix that stays the same for a whole sequence:
// C (M,N) (+)= A (M,K) · B (K,N), with B packed once per call into column panels and M small
// (a thread's rows of one step). The BLAS would re-pack B on every step, which costs as much as
// the product at these sizes (bench/, RESULTS.md); here the packed panels stay resident and a
// register-blocked micro-kernel streams them. Compiled per ISA (see isa.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "isa.h"
#include "rnn_common.h"

namespace pyseq::cpu {
PYSEQ_ISA_BEGIN

// Register block: MR rows × NR columns of accumulators.
// AVX-512 has 32 vector registers: 8 rows × 2 or 3 vectors of accumulators (the wider panel
// where the columns fill it, see StepWeights); AVX2 and SSE2 have 16: 6 × 2.
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
constexpr int kVectorBytes = 64;
constexpr int kRowBlock = 8;
constexpr int kWideVectors = 3;
#elif defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 1
constexpr int kVectorBytes = 32;
constexpr int kRowBlock = 6;
constexpr int kWideVectors = 2;
#else
constexpr int kVectorBytes = 16;
constexpr int kRowBlock = 6;
constexpr int kWideVectors = 2;
#endif

// NV: vectors per panel row (2, or kWideVectors).
template <typename T, int NV>
struct PanelShape {
  static constexpr int NR = NV * kVectorBytes / static_cast<int>(sizeof(T));
  static constexpr int MR = kRowBlock;
  // K is cut in blocks of KC; at the recurrent sizes measured (K <= 512 floats) no cut was fastest:
  // smaller blocks re-load the accumulators more often than they save in cache misses (bench/).
  static constexpr std::int64_t KC = 65536 / (NR * static_cast<std::int64_t>(sizeof(T)));
};

// B (K,N) as ceil(N/NR) panels of K × NR (zero-padded), panel p at p * K * NR.
template <typename T, int NV>
std::int64_t packed_size(std::int64_t K, std::int64_t N) {
  constexpr int NR = PanelShape<T, NV>::NR;
  return (N + NR - 1) / NR * NR * K;
}

// Packs columns [n_begin, n_end) (n_begin a multiple of NR) of B (K,N) row-major with leading
// dimension ldb, or, with `transposed`, of Bᵀ for a stored (N,K) matrix with leading dimension ldb.
template <typename T, int NV>
void pack_panels(T* dst, const T* B, std::int64_t ldb, std::int64_t K, std::int64_t N,
                 bool transposed, std::int64_t n_begin, std::int64_t n_end) {
  constexpr int NR = PanelShape<T, NV>::NR;
  for (std::int64_t n0 = n_begin; n0 < std::min(N, n_end); n0 += NR) {
    const std::int64_t nr = std::min<std::int64_t>(NR, N - n0);
    T* panel = dst + n0 * K;
    for (std::int64_t k = 0; k < K; ++k) {
      T* row = panel + k * NR;
      for (std::int64_t j = 0; j < nr; ++j)
        row[j] = transposed ? B[(n0 + j) * ldb + k] : B[k * ldb + n0 + j];
      for (std::int64_t j = nr; j < NR; ++j) row[j] = T(0);
    }
  }
}

// C[0:mr, 0:nr] (+)= A[0:mr, k0:k1] · panel[k0:k1]: MR_ rows at a time, all accumulators in
// registers across the k loop.
template <typename T, int NV, int MR_>
inline void micro_kernel(const T* __restrict A, std::int64_t lda, const T* __restrict panel,
                         std::int64_t kc, T* __restrict C, std::int64_t ldc, std::int64_t nr,
                         bool accumulate, const char* prefetch) {
  constexpr int NR = PanelShape<T, NV>::NR;
  T acc[MR_][NR];
  for (int m = 0; m < MR_; ++m)
    for (int j = 0; j < NR; ++j) acc[m][j] = (accumulate && j < nr) ? C[m * ldc + j] : T(0);
#pragma GCC unroll 4
  for (std::int64_t k = 0; k < kc; ++k) {
    const T* __restrict b = panel + k * NR;
    if (prefetch) __builtin_prefetch(prefetch + k * 64, 0, 2);
#pragma GCC unroll 8
    for (int m = 0; m < MR_; ++m) {
      const T a = A[m * lda + k];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[m][j] += a * b[j];
    }
  }
  if (nr == NR) {
    for (int m = 0; m < MR_; ++m)
      for (int j = 0; j < NR; ++j) C[m * ldc + j] = acc[m][j];
  } else {
    for (int m = 0; m < MR_; ++m)
      for (std::int64_t j = 0; j < nr; ++j) C[m * ldc + j] = acc[m][j];
  }
}

template <typename T, int NV, int MR_>
inline void micro_kernel_rows(int mr, const T* A, std::int64_t lda, const T* panel,
                              std::int64_t kc, T* C, std::int64_t ldc, std::int64_t nr,
                              bool accumulate, const char* prefetch = nullptr) {
  if constexpr (MR_ > 1) {
    if (mr < MR_) {
      micro_kernel_rows<T, NV, MR_ - 1>(mr, A, lda, panel, kc, C, ldc, nr, accumulate, prefetch);
      return;
    }
  }
  micro_kernel<T, NV, MR_>(A, lda, panel, kc, C, ldc, nr, accumulate, prefetch);
}

// C (M,N) = A (M,K) · B + (accumulate ? C : 0), B given packed by pack_panels.
template <typename T, int NV>
void packed_gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, std::int64_t lda,
                 const T* packed_B, T* C, std::int64_t ldc, bool accumulate) {
  using S = PanelShape<T, NV>;
  for (std::int64_t k0 = 0; k0 < K; k0 += S::KC) {
    const std::int64_t kc = std::min<std::int64_t>(S::KC, K - k0);
    const bool acc = accumulate || k0 > 0;
    for (std::int64_t n0 = 0; n0 < N; n0 += S::NR) {
      const T* panel = packed_B + n0 * K + k0 * S::NR;
      const std::int64_t nr = std::min<std::int64_t>(S::NR, N - n0);
      // The next panel's slice (kc rows of NR, NV cache lines each) comes from L3 unless fetched
      // ahead: the first row blocks of this panel prefetch it into L2, one line per k, so that
      // the fetch is spread over this panel's work instead of stalling the next one's first block.
      const char* next = n0 + S::NR < N ? reinterpret_cast<const char*>(panel + S::NR * K)
                                         : nullptr;
      std::int64_t blk = 0;
      for (std::int64_t m0 = 0; m0 < M; m0 += S::MR, ++blk) {
        const int mr = static_cast<int>(std::min<std::int64_t>(S::MR, M - m0));
        const char* pf = next && blk < NV ? next + blk * kc * 64 : nullptr;
        micro_kernel_rows<T, NV, S::MR>(mr, A + m0 * lda + k0, lda, panel, kc, C + m0 * ldc + n0,
                                    ldc, nr, acc, pf);
      }
    }
  }
}

// The step loop's weights: for each unit chunk k, its (K, N_k) slice packed into panels.
// Forward: K = H and chunk k's gate columns (N_k = G*hs); backward: K = G*H, N_k = hs (Uᵀ rows).
// Each chunk takes the wide panels where they waste under 5% of its columns in padding, else
// the narrow ones (N = 64 in wide panels would compute 96 columns).
template <typename T>
class StepWeights {
 public:
  template <class ColumnsOf>
  StepWeights(const UnitChunks& chunks, std::int64_t K, ColumnsOf&& columns_of)
      : K_(K), offset_(chunks.n + 1, 0), N_(chunks.n), wide_(chunks.n) {
    constexpr int NRw = PanelShape<T, kWideVectors>::NR;
    for (int k = 0; k < chunks.n; ++k) {
      N_[k] = columns_of(k);
      wide_[k] = ((N_[k] + NRw - 1) / NRw * NRw - N_[k]) * 20 < N_[k];
      offset_[k + 1] = offset_[k] + (wide_[k] ? packed_size<T, kWideVectors>(K, N_[k])
                                              : packed_size<T, 2>(K, N_[k]));
    }
    buf_ = std::make_unique<Buffer<T>>(offset_.back());
  }
  // Packs chunk k from its (K, N_k) source (or the source's transpose); columns [n_begin, n_end).
  void pack(int k, const T* src, std::int64_t ld, bool transposed, std::int64_t n_begin = 0,
            std::int64_t n_end = INT64_MAX) {
    T* dst = buf_->get() + offset_[k];
    if (wide_[k]) pack_panels<T, kWideVectors>(dst, src, ld, K_, N_[k], transposed, n_begin, n_end);
    else pack_panels<T, 2>(dst, src, ld, K_, N_[k], transposed, n_begin, n_end);
  }
  // This thread's share of chunk k's panels, for when the team packs one chunk together.
  void pack_share(int k, const T* src, std::int64_t ld, bool transposed, int tid, int nth) {
    const std::int64_t nr = wide_[k] ? PanelShape<T, kWideVectors>::NR : PanelShape<T, 2>::NR;
    auto [p0, p1] = team_share((N_[k] + nr - 1) / nr, tid, nth);
    if (p1 > p0) pack(k, src, ld, transposed, p0 * nr, p1 * nr);
  }
  // C (M, N_k) = A (M, K) · chunk k + (accumulate ? C : 0).
  void multiply(int k, std::int64_t M, const T* A, std::int64_t lda, T* C, std::int64_t ldc,
                bool accumulate) const {
    const T* panels = buf_->get() + offset_[k];
    if (wide_[k]) packed_gemm<T, kWideVectors>(M, N_[k], K_, A, lda, panels, C, ldc, accumulate);
    else packed_gemm<T, 2>(M, N_[k], K_, A, lda, panels, C, ldc, accumulate);
  }

 private:
  std::int64_t K_;
  std::vector<std::int64_t> offset_, N_;
  std::vector<bool> wide_;
  std::unique_ptr<Buffer<T>> buf_;
};

PYSEQ_ISA_END
}  // namespace pyseq::cpu
