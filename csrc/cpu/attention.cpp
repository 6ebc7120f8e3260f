// Fused softmax attention, forward and backward. Compiled once per ISA level (see isa.h).
// Legend: B batch, N heads, Lq query length, Lk key length, D head size, Dv value size;
// BQ × BK the tile of queries × keys; rows of q, k, v, o for one head are N·D (N·Dv) apart.
//
// Forward, per query tile Q_i against each key tile K_j (online softmax, FlashAttention-2 style):
//   S = scale · Q_i K_jᵀ, masked entries -inf;  m' = max(m, rowmax S);  P = exp(S - m')
//   l = l·exp(m - m') + rowsum P;  acc = acc·exp(m - m') + (P ∘ Z) V_j   (Z: dropout, 1/(1-p) or 0)
//   at the end o = acc / l, lse = m + log l.  Only o and lse (B,N,Lq) are saved.
// Backward, per key tile K_j against each query tile Q_i, recomputing the weights:
//   P = exp(S - lse);  dV_j += (P∘Z)ᵀ dO_i;  dP = (dO_i V_jᵀ) ∘ Z;  dS = P ∘ (dP - Drow_i)
//   dK_j += scale · dSᵀ Q_i;  dQ_i += scale · dS K_j,   with Drow = rowsum(dO ∘ o).
// Under causal masking, tiles above the diagonal are skipped in both directions.
// float32 on AVX-512 runs its own forward and backward (fused_forward_impl, fused_backward_impl,
// below) on transposed tiles, queries on the vector lanes; the generic path above serves float64,
// the other ISA levels, and the options the fused kernels leave out (dropout, attn_mask, scores).
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "blas.h"
#include "packed_gemm.h"
#include "rnn_common.h"
#include "vec_math.h"

#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
#include <immintrin.h>

#include "amx_bf16x3.h"
#endif

#ifndef PYSEQ_ISA
#error "PYSEQ_ISA must name the ISA namespace this file is compiled for"
#endif

namespace pyseq::cpu::PYSEQ_ISA {

namespace {

// exp(x) for the softmax, where x = score - (running max or lse) <= 0 up to rounding, and masked
// scores are -inf: exactly 0 below -87 (so masked entries need no separate select).
// float: vec_math.h's fast_exp without its upper clamp and split scaling (n <= 0 here).
template <typename T> inline T softmax_exp(T x);
template <> inline float softmax_exp<float>(float x) {
  const bool tiny = x < -87.0f;
  x = tiny ? -87.0f : x;
  const float shifter = 12582912.0f;  // 1.5 * 2^23
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  const std::int32_t ni = math::float_to_bits(t) - math::float_to_bits(shifter);
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float e = p * math::bits_to_float((ni + 127) << 23);
  return tiny ? 0.0f : e;
}
template <> inline double softmax_exp<double>(double x) { return std::exp(x); }  // exp(-inf) = 0

template <typename T> constexpr T kNegInf = -std::numeric_limits<T>::infinity();

struct Tiles {
  std::int64_t bq, bk;
};

// Tile sizes: set_attention_tiles, else the defaults measured best at the design.md shapes
// (bench/test_attention.py): an S tile of BQ × BK floats and the q, k, v (dO) rows of a tile pair
// stay in L2, and BK is a multiple of the wide panel (48 floats on AVX-512). Backward prefers
// fewer query rows per tile (its tile pair touches five operands).
Tiles choose_tiles(const AttentionOptions& o, bool backward) {
  int bq = 0, bk = 0;
  get_attention_tiles(&bq, &bk);
  // Forward without causal masking takes larger tiles (fewer passes over o's accumulator);
  // with it, smaller ones waste less on the diagonal.
  if (bq <= 0) bq = backward ? 32 : o.causal ? 64 : 128;
  if (bk <= 0) bk = backward ? 144 : o.causal ? 192 : 384;
  return {std::min<std::int64_t>(bq, o.Lq), std::min<std::int64_t>(bk, o.Lk)};
}

// Sets the masked entries of the score tile S (rows [i0, i0+mq) × keys [j0, j0+nk) of batch b)
// to -inf; a tile no mask reaches is left alone.
template <typename T>
void mask_scores(T* S, std::int64_t ldS, const AttentionOptions& o, std::int64_t b,
                 std::int64_t i0, std::int64_t mq, std::int64_t j0, std::int64_t nk) {
  const std::uint8_t* km = o.key_mask ? o.key_mask + b * o.Lk + j0 : nullptr;
  // The causal mask only bites where the tile reaches above the diagonal.
  const bool causal = o.causal && j0 + nk - 1 > i0;
  if (!km && !o.attn_mask && !causal) return;
  for (std::int64_t r = 0; r < mq; ++r) {
    T* __restrict s = S + r * ldS;
    const std::int64_t i = i0 + r;
    const std::uint8_t* am = o.attn_mask ? o.attn_mask + (b * o.Lq + i) * o.Lk + j0 : nullptr;
#pragma omp simd
    for (std::int64_t j = 0; j < nk; ++j) {
      bool keep = true;
      if (km) keep = keep && km[j];
      if (am) keep = keep && am[j];
      if (causal) keep = keep && (j0 + j <= i);
      s[j] = keep ? s[j] : kNegInf<T>;
    }
  }
}

// Lanes of the row-wise partial sums and maxima: one vector register.
template <typename T> constexpr int kLanes = 64 / sizeof(T);

// max of s[0..n): lane-wise partial maxima, which vectorise where a float max reduction does not
// (it must honour NaN ordering, so GCC keeps it scalar).
template <typename T>
inline T row_max(const T* __restrict s, std::int64_t n) {
  constexpr int W = kLanes<T>;
  T lanes[W];
  for (int w = 0; w < W; ++w) lanes[w] = kNegInf<T>;
  std::int64_t j = 0;
  for (; j + W <= n; j += W)
#pragma omp simd
    for (int w = 0; w < W; ++w) lanes[w] = s[j + w] > lanes[w] ? s[j + w] : lanes[w];
  T mx = kNegInf<T>;
  for (; j < n; ++j) mx = s[j] > mx ? s[j] : mx;
  for (int w = 0; w < W; ++w) mx = lanes[w] > mx ? lanes[w] : mx;
  return mx;
}

// Multiplies row r of P (keys [j0, j0+nk) of query i) by the dropout factor: 1/(1-p) kept, 0 dropped.
template <typename T>
void apply_dropout(T* __restrict p, const AttentionOptions& o, std::uint32_t threshold,
                   std::int64_t b, std::int64_t n, std::int64_t i, std::int64_t j0,
                   std::int64_t nk) {
  const std::uint64_t key = dropout_row_key(o.seed, static_cast<std::uint64_t>((b * o.N + n) * o.Lq + i));
  const T inv_keep = static_cast<T>(1.0 / (1.0 - o.dropout));
#pragma omp simd
  for (std::int64_t j = 0; j < nk; ++j) {
    const std::uint32_t bits = dropout_bits(key, static_cast<std::uint32_t>(j0 + j));
    p[j] = bits >= threshold ? p[j] * inv_keep : T(0);
  }
}

// Runs body(task) for tasks 0..n-1 on the team, handed out one at a time (tiles differ in cost
// under causal masking; the order puts the costly ones first).
template <class Body>
void for_tasks(std::atomic<std::int64_t>& next, std::int64_t n, Body&& body) {
  for (std::int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < n;) body(t);
}

// ---- packed key and value tiles ----------------------------------------------------------------
// The tile products run on packed_gemm.h's panels (packed once, read by every tile that pairs
// with them) instead of the BLAS, which would re-pack both operands on every small call.
// Panels for products whose columns are keys (S, dP: wide panels where the ISA has the registers)
// and for those whose columns are the head size (P·V, dS·K: D = 64 fills 2 vectors exactly).
constexpr int kNVs = kWideVectors;
constexpr int kNVd = 2;
template <typename T> constexpr std::int64_t kNRs = PanelShape<T, kNVs>::NR;
template <typename T> constexpr std::int64_t kNRd = PanelShape<T, kNVd>::NR;

inline std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

// B = c·xᵀ (cols × nk) as kNVs panels, for x = rows [j0, j0+nk) of one head (rows ld apart).
// Reads x row by row (contiguous) and scatters into the panels.
template <typename T>
void pack_keys_transposed(T* dst, const T* x, std::int64_t ld, std::int64_t nk, std::int64_t cols,
                          T c) {
  constexpr std::int64_t NR = kNRs<T>;
  for (std::int64_t j = 0; j < round_up(nk, NR); ++j) {
    T* __restrict out = dst + j / NR * cols * NR + j % NR;
    if (j < nk) {
      const T* __restrict in = x + j * ld;
      for (std::int64_t k = 0; k < cols; ++k) out[k * NR] = c * in[k];
    } else {
      for (std::int64_t k = 0; k < cols; ++k) out[k * NR] = T(0);
    }
  }
}

// B = c·x (nk × cols) as kNVd panels.
template <typename T>
void pack_rows_plain(T* dst, const T* x, std::int64_t ld, std::int64_t nk, std::int64_t cols, T c) {
  pack_panels<T, kNVd>(dst, x, ld, nk, cols, false, 0, cols);
  if (c != T(1)) {
    const std::int64_t size = packed_size<T, kNVd>(nk, cols);
#pragma omp simd
    for (std::int64_t e = 0; e < size; ++e) dst[e] *= c;
  }
}

// Tile products that skip what causal masking discards. Row m of a tile is query i0 + m, column
// (or inner index) n is key j0 + n, and query i sees key j iff j <= i, i.e. n <= m + diag with
// diag = i0 - j0. Without `causal` they are plain packed products.

// C (M,N) = A (M,K) · B, B packed in panels of K rows (packed_gemm.h); register blocks that lie
// wholly above the diagonal are not computed (their C entries are left as they were: the
// caller masks them).
template <typename T, int NV>
void scores_gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, std::int64_t lda,
                 const T* packed_B, T* C, std::int64_t ldc, bool causal, std::int64_t diag) {
  using S = PanelShape<T, NV>;
  if (!causal || K > S::KC) {
    packed_gemm<T, NV>(M, N, K, A, lda, packed_B, C, ldc, false);
    return;
  }
  for (std::int64_t n0 = 0; n0 < N; n0 += S::NR) {
    const std::int64_t nr = std::min<std::int64_t>(S::NR, N - n0);
    for (std::int64_t m0 = 0; m0 < M; m0 += S::MR) {
      const int mr = static_cast<int>(std::min<std::int64_t>(S::MR, M - m0));
      if (n0 > m0 + mr - 1 + diag) continue;  // every entry of the block is masked
      micro_kernel_rows<T, NV, S::MR>(mr, A + m0 * lda, lda, packed_B + n0 * K, K,
                                      C + m0 * ldc + n0, ldc, nr, false);
    }
  }
}

// C (M,N) += A (M,K) · B, B packed in panels that lie panel_stride apart (they may hold more than
// K rows); the inner dimension is keys, so rows of A are zero beyond the diagonal and each block
// of rows stops at its last visible key.
template <typename T, int NV>
void keys_gemm(std::int64_t M, std::int64_t N, std::int64_t K, const T* A, std::int64_t lda,
               const T* packed_B, std::int64_t panel_stride, T* C, std::int64_t ldc, bool causal,
               std::int64_t diag) {
  using S = PanelShape<T, NV>;
  for (std::int64_t n0 = 0; n0 < N; n0 += S::NR) {
    const std::int64_t nr = std::min<std::int64_t>(S::NR, N - n0);
    const T* panel = packed_B + n0 / S::NR * panel_stride;
    if (!causal || K > S::KC) {
      packed_gemm<T, NV>(M, nr, K, A, lda, panel, C + n0, ldc, true);
      continue;
    }
    for (std::int64_t m0 = 0; m0 < M; m0 += S::MR) {
      const int mr = static_cast<int>(std::min<std::int64_t>(S::MR, M - m0));
      const std::int64_t kc = std::min(K, m0 + mr + diag);  // keys 0 .. m0+mr-1+diag
      if (kc <= 0) continue;
      micro_kernel_rows<T, NV, S::MR>(mr, A + m0 * lda, lda, panel, kc, C + m0 * ldc + n0, ldc,
                                      nr, true);
    }
  }
}

// C (M,N) += alpha · Aᵀ B for A (K,M) (rows: queries, columns: keys, the layout of P and dS) and
// B (K,N) rows of queries: the key-side gradients dV and dK, by the BLAS. Key m only receives
// from queries m + diag' on (diag' = j0 - i0 = -diag): where the tile straddles the diagonal,
// blocks of keys start at their first visible query.
template <typename T>
void transposed_keys_gemm(std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                          std::int64_t lda, const T* B, std::int64_t ldb, T* C, std::int64_t ldc,
                          bool causal, std::int64_t diag) {
  if (!causal || diag >= M - 1) {  // no key of the tile is hidden from any of its queries
    blas::gemm<T>(true, false, M, N, K, alpha, A, lda, B, ldb, T(1), C, ldc);
    return;
  }
  constexpr std::int64_t kBlock = 16;
  for (std::int64_t m0 = 0; m0 < M; m0 += kBlock) {
    const std::int64_t mb = std::min(kBlock, M - m0);
    const std::int64_t k0 = std::max<std::int64_t>(0, m0 - diag);  // first query seeing key m0
    if (k0 >= K) break;
    blas::gemm<T>(true, false, mb, N, K - k0, alpha, A + k0 * lda + m0, lda, B + k0 * ldb, ldb,
                  T(1), C + m0 * ldc, ldc);
  }
}

// ---- forward -----------------------------------------------------------------------------------

// One query tile of one head against every key tile it can see.
// o rows [i0, i0+mq) of head (b, n) (B,Lq,N,Dv), lse (B,N,Lq), scores (B,N,Lq,Lk) or null.
template <typename T, bool kDropout>
void forward_tile(const AttentionForward<T>& a, const Tiles& t, std::int64_t b, std::int64_t n,
                  std::int64_t i0, const T* Kp, const T* Vp, T* S, T* acc, T* m, T* l,
                  std::uint32_t threshold) {
  const AttentionOptions& o = a.opt;
  const std::int64_t N = o.N, D = o.D, Dv = o.Dv, Lq = o.Lq, Lk = o.Lk, BK = t.bk;
  const std::int64_t mq = std::min(t.bq, Lq - i0);
  constexpr int W = kLanes<T>;  // l holds W partial row sums per row
  const T* Q = a.q + ((b * Lq + i0) * N + n) * D;
  // Keys past the tile's last query are all masked under causal masking.
  const std::int64_t kend = o.causal ? std::min(Lk, i0 + mq) : Lk;
  std::fill(acc, acc + mq * Dv, T(0));
  std::fill(m, m + mq, kNegInf<T>);
  std::fill(l, l + mq * W, T(0));
  for (std::int64_t j0 = 0; j0 < kend; j0 += BK) {
    const std::int64_t nk = std::min(BK, kend - j0);
    const std::int64_t kb = j0 / BK;
    // S = Q (scale·K)ᵀ (mq × nk)
    scores_gemm<T, kNVs>(mq, nk, D, Q, N * D, Kp + kb * round_up(BK, kNRs<T>) * D, S, BK,
                         o.causal, i0 - j0);
    mask_scores(S, BK, o, b, i0, mq, j0, nk);
    for (std::int64_t r = 0; r < mq; ++r) {
      T* __restrict s = S + r * BK;
      if (a.scores) std::copy(s, s + nk, a.scores + ((b * N + n) * Lq + i0 + r) * Lk + j0);
      const T mx = row_max(s, nk);
      const T m_new = std::max(m[r], mx);
      if (m_new == kNegInf<T>) {
        // every key so far masked (nothing to add), or every score NaN (row_max skips NaN),
        // which is carried into the row's sum and so into o and lse
        const bool nan = std::any_of(s, s + nk, [](T x) { return x != x; });
        std::fill(s, s + nk, nan ? std::numeric_limits<T>::quiet_NaN() : T(0));
        if (nan) l[r * W] = std::numeric_limits<T>::quiet_NaN();
        continue;
      }
      T* __restrict lr = l + r * W;
      if (m[r] != m_new) {
        const T alpha = softmax_exp<T>(m[r] - m_new);  // 0 when m[r] = -inf
        T* __restrict ar = acc + r * Dv;
#pragma omp simd
        for (std::int64_t d = 0; d < Dv; ++d) ar[d] *= alpha;
        for (int w = 0; w < W; ++w) lr[w] *= alpha;
        m[r] = m_new;
      }
      std::int64_t j = 0;
      for (; j + W <= nk; j += W)
#pragma omp simd
        for (int w = 0; w < W; ++w) {
          const T p = softmax_exp<T>(s[j + w] - m_new);
          s[j + w] = p;
          lr[w] += p;
        }
      for (; j < nk; ++j) {
        s[j] = softmax_exp<T>(s[j] - m_new);
        lr[0] += s[j];
      }
      if (kDropout) apply_dropout(s, o, threshold, b, n, i0 + r, j0, nk);
    }
    // acc += P V (mq × Dv)
    // The tile was packed with all its min(BK, Lk - j0) rows, of which causal masking may use
    // fewer (nk): its panels lie `rows` · NR apart.
    const std::int64_t rows = std::min(BK, Lk - j0);
    keys_gemm<T, kNVd>(mq, Dv, nk, S, BK, Vp + kb * BK * round_up(Dv, kNRd<T>), rows * kNRd<T>,
                       acc, Dv, o.causal, i0 - j0);
  }
  for (std::int64_t r = 0; r < mq; ++r) {
    T* __restrict out = a.o + ((b * Lq + i0 + r) * N + n) * Dv;
    const T* __restrict ar = acc + r * Dv;
    T lsum = 0;
    for (int w = 0; w < W; ++w) lsum += l[r * W + w];
    // lsum = 0: every key masked (zeros); NaN (a NaN score) is carried into o and lse
    const bool seen = !(lsum <= T(0));
    const T inv = seen ? T(1) / lsum : T(0);
#pragma omp simd
    for (std::int64_t d = 0; d < Dv; ++d) out[d] = ar[d] * inv;
    // +inf for a fully masked row: exp(s - lse) is then 0 for every key, here and in backward
    const T lse = seen ? m[r] + std::log(lsum) : std::numeric_limits<T>::infinity();
    a.lse[(b * N + n) * Lq + i0 + r] = lse;
    if (a.scores) {  // the raw masked scores written above become the normalised weights
      T* __restrict w = a.scores + ((b * N + n) * Lq + i0 + r) * Lk;
#pragma omp simd
      for (std::int64_t j = 0; j < kend; ++j)
        w[j] = softmax_exp<T>(w[j] - lse);
      std::fill(w + kend, w + Lk, T(0));
    }
  }
}

template <typename T, bool kDropout>
void forward_impl(const AttentionForward<T>& a) {
  const AttentionOptions& o = a.opt;
  const Tiles t = choose_tiles(o, false);
  const std::int64_t N = o.N, D = o.D, Dv = o.Dv, Lk = o.Lk, BN = o.B * N;
  const std::int64_t nqb = (o.Lq + t.bq - 1) / t.bq, nkb = (Lk + t.bk - 1) / t.bk;
  const std::uint32_t threshold = kDropout ? attention_dropout_threshold(o.dropout) : 0;
  // Every head's key and value tiles, packed: scale·K as (D × BK) panels, V as (BK × Dv) panels.
  const std::int64_t k_tile = round_up(t.bk, kNRs<T>) * D, v_tile = t.bk * round_up(Dv, kNRd<T>);
  Buffer<T> Kp(BN * nkb * k_tile), Vp(BN * nkb * v_tile);
  std::atomic<std::int64_t> next{0};
  run_team([&](const Team& team) {
    {
      auto [p0, p1] = team_share(BN * nkb, team.tid, team.nth);
      for (std::int64_t p = p0; p < p1; ++p) {
        const std::int64_t bn = p / nkb, b = bn / N, n = bn % N, j0 = p % nkb * t.bk;
        const std::int64_t nk = std::min(t.bk, Lk - j0);
        pack_keys_transposed<T>(Kp.get() + p * k_tile, a.k + ((b * Lk + j0) * N + n) * D, N * D,
                                nk, D, static_cast<T>(o.scale));
        pack_rows_plain<T>(Vp.get() + p * v_tile, a.v + ((b * Lk + j0) * N + n) * Dv, N * Dv, nk,
                           Dv, T(1));
      }
    }
    team.barrier();
    Buffer<T> S(t.bq * t.bk), acc(t.bq * Dv), m(t.bq), l(t.bq * (64 / sizeof(T)));
    // Causal: the last query tiles see the most keys, so they go first.
    for_tasks(next, BN * nqb, [&](std::int64_t task) {
      const std::int64_t qb = nqb - 1 - task / BN, bn = task % BN;
      forward_tile<T, kDropout>(a, t, bn / N, bn % N, qb * t.bq, Kp.get() + bn * nkb * k_tile,
                                Vp.get() + bn * nkb * v_tile, S.get(), acc.get(), m.get(),
                                l.get(), threshold);
    });
  });
}

// ---- forward, AVX-512 float: queries along the vector lanes ------------------------------------
// The tile is transposed: Sᵀ (keys × 48 queries), so that each query's softmax state (reference
// maximum m, sum l, rescale alpha) is one vector lane: no horizontal reduction and no per-row
// scalar code. Per tile of 48 queries Q_i and block of BK keys K_j, all in L1, 8 keys at a time:
//   Sᵀ = K_j (c·Q_i)ᵀ with c = scale·log2(e) folded into the packed Q (scores in base 2);
//   where colmax Sᵀ > m + 8: m' = colmax Sᵀ, and l, this block's P so far and O owe 2^(m - m');
//   Pᵀ = 2^(Sᵀ - m) in the block's epilogue;  l += colsum Pᵀ;  per block O = O·alpha + P V_j;
//   at the end o = O / l, lse = ln2·m + ln l.
// Taken for float without attn_mask, dropout or scores (key_mask and causal are handled here);
// the rest runs forward_impl.
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
constexpr int kTq = 48;  // queries per tile: 3 vectors
constexpr int kTv = 3;
constexpr int kTr = 8;   // rows (keys of Sᵀ, value columns of Oᵀ) per register block
// The diag argument of the causal-aware products when there is no causal mask (every key seen).
constexpr std::int64_t kNoDiagonal = std::int64_t(1) << 40;

// Under causal masking, a block of 8 keys from key j on is seen by none of the first
// (j - i0) / 16 vectors of the tile's queries (i0 on): the score blocks leave those out. Calls
// f(std::integral_constant<int, S0>) with S0 that count, at most V - 1 (V vectors in use).
template <int V, class F>
inline void with_unseen_vectors(std::int64_t j, std::int64_t i0, F&& f) {
  const std::int64_t unseen = (j - i0) / 16;
  if constexpr (V >= 3)
    if (unseen >= 2) return f(std::integral_constant<int, 2>{});
  if constexpr (V >= 2)
    if (unseen >= 1) return f(std::integral_constant<int, 1>{});
  f(std::integral_constant<int, 0>{});
}

// 2^t for t <= 8: 2^n · p(f), n = round(t), f in [-1/2, 1/2], p a degree-5 fit
// of 2^f (relative error 2.3e-7 evaluated in float32), scaled by vscalefps. Below t = -125 (and
// for t = -inf) the result is 0: no subnormal results, whose microcode assists would cost more
// than the exp. NaN stays NaN.
inline __m512 exp2_ps(__m512 t) {
  const __mmask16 normal = _mm512_cmp_ps_mask(t, _mm512_set1_ps(-125.0f), _CMP_NLT_UQ);
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.3400432653725147e-3f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.676037356257439e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550327152013779e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402210682630539e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931471824645996e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000001192092896f));
  return _mm512_maskz_scalef_ps(normal, p, n);
}

// acc[r][v] += Σ_k A[r·ar + k·ak] · X[k·ldx + 16v] for k < n: the register-block product of every
// fused kernel (R broadcast entries of A against NV vectors of each row of X). Always inlined,
// so that acc stays in registers in the caller.
template <int R, int NV>
__attribute__((always_inline)) inline void block_fma(__m512 (&acc)[R][NV],
                                                     const float* __restrict A, std::int64_t ar,
                                                     std::int64_t ak, const float* __restrict X,
                                                     std::int64_t ldx, std::int64_t n) {
  // n >= 1 (the callers see to it) and one step per trip: with a path that skips the loop, or
  // unrolled with a computed entry, GCC keeps the accumulators on the stack around the loop.
  if (n < 1) __builtin_unreachable();
#pragma GCC unroll 1
  for (std::int64_t k = 0; k < n; ++k) {
    __m512 x[NV];
    for (int v = 0; v < NV; ++v) x[v] = _mm512_loadu_ps(X + k * ldx + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * ar + k * ak]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, x[v], acc[r][v]);
    }
  }
}

// dst[0, n) = c · src[0, n), written around the caches where dst is 64-byte aligned and n a
// multiple of 16: the kernels' outputs are written once and not read again by them, and ordinary
// stores would first read every line from memory (the backward's dK, dV write-out took 7 % of it).
// The bindings allocate o, dq, dk and dv 64-byte aligned for this (NumPy aligns to 16 bytes).
// The caller fences (_mm_sfence) before its results are read. Without `stream`, ordinary stores:
// for results the kernel reads again.
inline void write_row(float* __restrict dst, const float* __restrict src, std::int64_t n, float c,
                      bool stream = true) {
  const __m512 cv = _mm512_set1_ps(c);
  if (stream && (reinterpret_cast<std::uintptr_t>(dst) & 63) == 0 && n % 16 == 0) {
    for (std::int64_t d = 0; d < n; d += 16)
      _mm512_stream_ps(dst + d, _mm512_mul_ps(_mm512_loadu_ps(src + d), cv));
    return;
  }
  for (std::int64_t d = 0; d < n; ++d) dst[d] = c * src[d];
}

// dst[0, n) = c · column q of Cᵀ (src = Cᵀ + q, rows of 48), as write_row.
inline void write_column(float* __restrict dst, const float* __restrict src, std::int64_t n, float c,
                         bool stream = true) {
  const __m512i rows = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(kTq));
  const __m512 cv = _mm512_set1_ps(c);
  stream = stream && (reinterpret_cast<std::uintptr_t>(dst) & 63) == 0 && n % 16 == 0;
  std::int64_t d = 0;
  for (; d + 16 <= n; d += 16) {
    const __m512 x = _mm512_mul_ps(_mm512_i32gather_ps(rows, src + d * kTq, 4), cv);
    if (stream) _mm512_stream_ps(dst + d, x);
    else _mm512_storeu_ps(dst + d, x);
  }
  for (; d < n; ++d) dst[d] = c * src[d * kTq];
}

// s with the lanes of queries qi (one per lane) that come before `key` set to -inf (causal).
inline __m512 hide_unseen(__m512 s, __m512i qi, std::int64_t key) {
  const __mmask16 sees =
      _mm512_cmp_epi32_mask(qi, _mm512_set1_epi32(static_cast<int>(key)), _MM_CMPINT_NLT);
  return _mm512_mask_blend_ps(sees, _mm512_set1_ps(-std::numeric_limits<float>::infinity()), s);
}

// Backward's P = exp(S - lse) in place, S (mq × nk, rows ld apart) of queries i0 + r and keys
// j0 + j; with `causal` (diag = i0 - j0) the entries above the diagonal, which scores_gemm may
// not have computed, become 0.
inline void probabilities(float* P, std::int64_t ld, const float* lse, std::int64_t mq,
                          std::int64_t nk, bool causal, std::int64_t diag) {
  const __m512 log2e = _mm512_set1_ps(1.4426950408889634f);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (std::int64_t r = 0; r < mq; ++r) {
    float* p = P + r * ld;
    const __m512 L = _mm512_set1_ps(lse[r]);
    const std::int64_t last = causal ? std::min(nk - 1, r + diag) : nk - 1;  // last visible key
    for (std::int64_t j = 0; j < nk; j += 16) {
      const __mmask16 in = j + 16 <= nk ? __mmask16(0xFFFF) : __mmask16((1u << (nk - j)) - 1);
      __m512 t = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(in, p + j), L), log2e);
      if (j + 15 > last) {
        const __mmask16 sees = _mm512_cmp_epi32_mask(
            _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(j))),
            _mm512_set1_epi32(static_cast<int>(last)), _MM_CMPINT_LE);
        t = _mm512_mask_blend_ps(sees, ninf, t);
      }
      _mm512_mask_storeu_ps(p + j, in, exp2_ps(t));
    }
  }
}

// dst (cols × 48) = c · srcᵀ for the tile's `rows` query rows of src (ld apart, `cols` each);
// rows past `rows` zero. A full tile is read by gathers: the scalar transpose cost 5 % of the
// forward.
inline void pack_transposed(float* __restrict dst, const float* __restrict src, std::int64_t ld,
                            std::int64_t rows, std::int64_t cols, float c) {
  if (rows < kTq) {
    std::fill(dst, dst + cols * kTq, 0.0f);
    for (std::int64_t q = 0; q < rows; ++q)
      for (std::int64_t d = 0; d < cols; ++d) dst[d * kTq + q] = c * src[q * ld + d];
    return;
  }
  const __m512i idx0 = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int>(ld)));
  const __m512i idx1 = _mm512_add_epi32(idx0, _mm512_set1_epi32(static_cast<int>(16 * ld)));
  const __m512i idx2 = _mm512_add_epi32(idx1, _mm512_set1_epi32(static_cast<int>(16 * ld)));
  const __m512 cv = _mm512_set1_ps(c);
  for (std::int64_t d = 0; d < cols; ++d) {
    _mm512_storeu_ps(dst + d * kTq, _mm512_mul_ps(cv, _mm512_i32gather_ps(idx0, src + d, 4)));
    _mm512_storeu_ps(dst + d * kTq + 16, _mm512_mul_ps(cv, _mm512_i32gather_ps(idx1, src + d, 4)));
    _mm512_storeu_ps(dst + d * kTq + 32, _mm512_mul_ps(cv, _mm512_i32gather_ps(idx2, src + d, 4)));
  }
}

// The forward's online softmax by lane (one query per lane, 48 lanes): m, the reference maximum
// (base 2) the probabilities of the tile are taken against; l, their sum over the key blocks
// before this one; sum, over this block so far; alpha, the factor the O accumulated before this
// block still owes to the changes of m during it.
struct SoftmaxLanes {
  alignas(64) float m[kTq], l[kTq], sum[kTq], alpha[kTq];
  bool rescaled;  // some alpha of this block is not 1
  void start_tile() {
    std::fill(m, m + kTq, -std::numeric_limits<float>::infinity());
    std::fill(l, l + kTq, 0.0f);
  }
  void start_block() {
    std::fill(sum, sum + kTq, 0.0f);
    std::fill(alpha, alpha + kTq, 1.0f);
    rescaled = false;
  }
  void end_block() {
    for (int q = 0; q < kTq; ++q) l[q] += sum[q];
  }
};

// The reference maximum is raised only when a score exceeds it by more than 2^kLazyMax (as in
// FlashAttention-4's rescaling): probabilities up to 2^8 stay far from float32's range, and the
// exp is taken in the score block's epilogue, not in a pass of its own after the block's max.
constexpr float kLazyMax = 8.0f;

// Oᵀ (rows of 48 queries) column q ·= alpha[q]: the online softmax's rescale of an Oᵀ.
inline void scale_columns(float* Ot, std::int64_t rows, const float* alpha) {
  const __m512 a0 = _mm512_load_ps(alpha), a1 = _mm512_load_ps(alpha + 16),
               a2 = _mm512_load_ps(alpha + 32);
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = Ot + r * kTq;
    _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_loadu_ps(o), a0));
    _mm512_storeu_ps(o + 16, _mm512_mul_ps(_mm512_loadu_ps(o + 16), a1));
    _mm512_storeu_ps(o + 32, _mm512_mul_ps(_mm512_loadu_ps(o + 32), a2));
  }
}

// Raises m to the block's new row maxima mx (W vectors of queries from vector S0) where `raise`
// says, and rescales by 2^(m_old - m_new) what was taken against the old m: l, sum, alpha and
// the probabilities already stored for this block (rows [0, rows) of P, rows of 48). Rare: at
// the first scores a lane sees, and when a score jumps 2^8 above all before it.
template <int S0, int W>
__attribute__((noinline)) void raise_reference(SoftmaxLanes& st, const __m512* mx,
                                               const __mmask16* raise, float* P,
                                               std::int64_t rows) {
  st.rescaled = true;
  for (int w = 0; w < W; ++w) {
    if (!raise[w]) continue;
    const int v = w + S0;
    const __m512 m = _mm512_load_ps(st.m + 16 * v);
    const __m512 m_new = _mm512_mask_max_ps(m, raise[w], m, mx[w]);
    // 0 where m was -inf; 1 on the lanes not raised (m - m_new there is -inf - -inf for a lane
    // that has seen no key yet)
    const __m512 alpha =
        _mm512_mask_blend_ps(raise[w], _mm512_set1_ps(1.0f), exp2_ps(_mm512_sub_ps(m, m_new)));
    _mm512_store_ps(st.m + 16 * v, m_new);
    for (float* f : {st.l, st.sum, st.alpha})
      _mm512_store_ps(f + 16 * v, _mm512_mul_ps(_mm512_load_ps(f + 16 * v), alpha));
    for (std::int64_t r = 0; r < rows; ++r)
      _mm512_storeu_ps(P + r * kTq + 16 * v,
                       _mm512_mul_ps(_mm512_loadu_ps(P + r * kTq + 16 * v), alpha));
  }
}

// Pᵀ rows [j, j+8) = 2^(Sᵀ - m) for Sᵀ = K rows [j, j+8) (ldk apart) · Qp (D × 48), into P (rows
// of 48; the block's rows before these: `rows` of them from P0); adds them to st.sum. `valid`
// bit r: key j+r is not masked by the key mask or the end of the keys; with `causal`, query
// i0+q sees key j+r iff j+r <= i0+q, and the S0 leading vectors of queries, which see none of
// these keys, get 0. kFromProducts: P already holds these rows of Sᵀ (from the AMX tiles), K and
// Qp are not read.
template <bool kCausal, int V, int S0, int kD, bool kFromProducts = false>
inline void probabilities_fwd_block(float* __restrict P, float* P0, std::int64_t rows,
                                    const float* __restrict K, std::int64_t ldk,
                                    const float* __restrict Qp, std::int64_t D, unsigned valid,
                                    std::int64_t j, __m512i qidx0, SoftmaxLanes& st) {
  if (kD) ldk = D = kD;
  constexpr int W = V - S0;
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < kTr; ++r)
    for (int v = 0; v < S0; ++v) _mm512_storeu_ps(P + r * kTq + 16 * v, _mm512_setzero_ps());
  __m512 acc[kTr][W];
  for (int r = 0; r < kTr; ++r)
    for (int w = 0; w < W; ++w)
      acc[r][w] = kFromProducts ? _mm512_loadu_ps(P + r * kTq + 16 * (w + S0)) : _mm512_setzero_ps();
  if (!kFromProducts) block_fma<kTr, W>(acc, K, ldk, 1, Qp + 16 * S0, kTq, D);
  __m512 mx[W];
  for (int w = 0; w < W; ++w) mx[w] = ninf;
#pragma GCC unroll 8
  for (int r = 0; r < kTr; ++r) {
    const bool keep = valid >> r & 1u;
    for (int w = 0; w < W; ++w) {
      __m512 s = keep ? acc[r][w] : ninf;
      if (kCausal)
        s = hide_unseen(s, _mm512_add_epi32(qidx0, _mm512_set1_epi32(16 * (w + S0))), j + r);
      acc[r][w] = s;
      mx[w] = _mm512_max_ps(mx[w], s);
    }
  }
  __mmask16 raise[W];
  unsigned any = 0;
  for (int w = 0; w < W; ++w) {
    const __m512 limit = _mm512_add_ps(_mm512_load_ps(st.m + 16 * (w + S0)), _mm512_set1_ps(kLazyMax));
    raise[w] = _mm512_cmp_ps_mask(mx[w], limit, _CMP_GT_OQ);
    any |= raise[w];
  }
  if (any) raise_reference<S0, W>(st, mx, raise, P0, rows);
  __m512 msafe[W], sum[W];
  for (int w = 0; w < W; ++w) {
    const __m512 m = _mm512_load_ps(st.m + 16 * (w + S0));
    // lanes with every key so far masked: subtract 0, so that 2^(-inf) = 0, not NaN
    msafe[w] = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(m, ninf, _CMP_EQ_OQ), m, _mm512_setzero_ps());
    sum[w] = _mm512_load_ps(st.sum + 16 * (w + S0));
  }
#pragma GCC unroll 8
  for (int r = 0; r < kTr; ++r)
    for (int w = 0; w < W; ++w) {
      const __m512 p = exp2_ps(_mm512_sub_ps(acc[r][w], msafe[w]));
      _mm512_storeu_ps(P + r * kTq + 16 * (w + S0), p);
      sum[w] = _mm512_add_ps(sum[w], p);
    }
  for (int w = 0; w < W; ++w) _mm512_store_ps(st.sum + 16 * (w + S0), sum[w]);
}

// C rows [0, 6) (ldc apart), columns [0, 16·NV) = alpha ∘ C + A · X for the 6 queries of A
// (nk keys × queries, rows of 48: Pᵀ or dSᵀ) and X (nk × 16·NV, rows ldx apart: V or K). The
// products whose rows are queries (O += P V, dQ += dS K) are row-major, so that they are written
// out as rows. alpha (one factor per query, the online softmax's rescale) or null.
template <int NV, int kD>
inline void query_rows_block(float* __restrict C, std::int64_t ldc_, const float* alpha,
                             const float* __restrict A, const float* __restrict X,
                             std::int64_t ldx_, std::int64_t nk) {
  constexpr int R = 6;
  const std::int64_t ldc = kD ? kD : ldc_, ldx = kD ? kD : ldx_;
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      acc[r][v] = _mm512_loadu_ps(C + r * ldc + 16 * v);
      if (alpha) acc[r][v] = _mm512_mul_ps(acc[r][v], _mm512_set1_ps(alpha[r]));
    }
  block_fma<R, NV>(acc, A, 1, kTq, X, ldx, nk);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, acc[r][v]);
}

// C (rows < 6·ceil(mq/6), cols a multiple of 16, rows ldc apart) = alpha ∘ C + A · X for one
// block of nk keys, in column panels of 64 (and one of 16, 32 or 48). A's lanes past mq must be
// finite (zero): the last 6-row block reads them. Under causal masking (diag = i0 - j0: query
// row q sees key n iff n <= q + diag) each 6-row block stops at its last visible key.
template <int kD = 0>
inline void query_rows(float* C, std::int64_t ldc, std::int64_t cols, const float* alpha,
                       const float* A, const float* X, std::int64_t ldx, std::int64_t mq,
                       std::int64_t nk, std::int64_t diag = kNoDiagonal) {
  if (kD) ldc = ldx = cols = kD;
  for (std::int64_t q0 = 0; q0 < mq; q0 += 6) {
    float* c = C + q0 * ldc;
    const float* a = A + q0;
    const float* al = alpha ? alpha + q0 : nullptr;
    const std::int64_t n = std::min(nk, q0 + 6 + diag);
    if (n < 1) {  // these queries see none of the keys: only the rescale
      for (std::int64_t r = 0; al && r < 6; ++r)
        for (std::int64_t e = 0; e < cols; ++e) c[r * ldc + e] *= al[r];
      continue;
    }
    std::int64_t c0 = 0;
    for (; c0 + 64 <= cols; c0 += 64) query_rows_block<4, kD>(c + c0, ldc, al, a, X + c0, ldx, n);
    switch ((cols - c0) / 16) {
      case 3: query_rows_block<3, kD>(c + c0, ldc, al, a, X + c0, ldx, n); break;
      case 2: query_rows_block<2, kD>(c + c0, ldc, al, a, X + c0, ldx, n); break;
      case 1: query_rows_block<1, kD>(c + c0, ldc, al, a, X + c0, ldx, n); break;
      default: break;
    }
  }
}

// Calls f(std::integral_constant<int, V>{}, std::bool_constant<kAmx>{}): V the vectors of queries
// a tile of mq uses (3; fewer for a last tile of at most 32 or 16 queries), kAmx = amx.
template <class F>
void with_tile_shape(std::int64_t mq, bool amx, F&& f) {
  auto by_amx = [&](auto nv) {
    if (amx) f(nv, std::true_type{});
    else f(nv, std::false_type{});
  };
  if (mq > 32) by_amx(std::integral_constant<int, 3>{});
  else if (mq > 16) by_amx(std::integral_constant<int, 2>{});
  else by_amx(std::integral_constant<int, 1>{});
}

// A score product Sᵀ = K (c·Q)ᵀ (keys × 48 queries) on AMX tiles (amx_bf16x3.h), its operands
// in bfloat16 parts: a head's K rows (A; zero past Lk, enough rows for a last key block rounded
// up to 16) and one query tile's c·Qᵀ (B, pairs of 48 columns). Forward and backward compute
// Sᵀ alike, bit for bit, so that backward's P = exp(S - lse) matches forward's lse exactly (a
// float32 score rounded differently in the two would be amplified by the exp). The backward's
// dPᵀ = V (scale·dO)ᵀ is a second one.
struct ScoreParts {
  std::int64_t kp, key_rows;
  Buffer<bf16> keys_, queries_;
  ScoreParts(std::int64_t Lk, std::int64_t D)
      : kp(round_up(D, 32)), key_rows(round_up(Lk, 16) + 16), keys_(3 * key_rows * kp),
        queries_(3 * kp * kTq) {}
  Bf16x3 keys(std::int64_t j) {
    bf16* k = keys_.get() + j * kp;
    return {{k, k + key_rows * kp, k + 2 * key_rows * kp}};
  }
  Bf16x3 queries() {
    bf16* q = queries_.get();
    return {{q, q + kp * kTq, q + 2 * kp * kTq}};
  }
  // rows [0, Lk) of K (D columns, ld apart)
  void load_keys(const float* K, std::int64_t ld, std::int64_t Lk, std::int64_t D) {
    split_rows(keys(0), kp, K, ld, Lk, D);
    for (int s = 0; s < 3; ++s) std::fill(keys(Lk).part[s], keys(key_rows).part[s], bf16(0));
  }
  // Qp = c·Qᵀ (D × 48)
  void load_queries(const float* Qp, std::int64_t D) { split_pairs(queries(), kp, Qp, kTq, D, kTq); }
  // Sᵀ rows [j0, j0 + round_up(nk, 16)) into S (rows of 48)
  void product(float* S, std::int64_t j0, std::int64_t nk) {
    product_by_48(S, keys(j0), kp, 32, queries(), round_up(nk, 16), kp, false);
  }
};

// A product Cᵀ += Xᵀ Wᵀ (columns of X × 48 queries) on AMX tiles, for X a head's rows by key
// and W one key block's weights (rows of 48 queries): the forward's Oᵀ += Vᵀ Pᵀ and the
// backward's dQᵀ += Kᵀ dSᵀ. Xᵀ in parts (A, by split_columns: rows of round_up(cols, 16), keys
// in blocks of 32), Wᵀ in parts split per block (B, pairs of keys × 48 queries). Key blocks start
// at multiples of 32.
struct TransposedProduct {
  std::int64_t rows, kp, weights_part;
  Buffer<bf16> rows_, weights_;
  TransposedProduct(std::int64_t Lk, std::int64_t cols, std::int64_t bk)
      : rows(round_up(cols, 16)), kp(round_up(Lk, 32)), weights_part(round_up(bk, 32) * kTq),
        rows_(3 * rows * kp), weights_(3 * weights_part) {}
  Bf16x3 transposed(std::int64_t j0) {  // j0 a multiple of 32
    bf16* x = rows_.get() + j0 * rows;
    return {{x, x + rows * kp, x + 2 * rows * kp}};
  }
  Bf16x3 weights() {
    bf16* w = weights_.get();
    return {{w, w + weights_part, w + 2 * weights_part}};
  }
  // rows [0, Lk) of X (cols columns, ld apart)
  void load(const float* X, std::int64_t ld, std::int64_t Lk, std::int64_t cols) {
    split_columns(transposed(0), kp, X, ld, Lk, cols);
  }
  // Cᵀ (rows × 48) += Xᵀ (keys [j0, j0 + nk)) · Wᵀ, W: nk rows of 48
  void product(float* Ct, const float* W, std::int64_t j0, std::int64_t nk) {
    const std::int64_t kb = round_up(nk, 32);
    split_pairs(weights(), kb, W, kTq, nk, kTq);
    product_by_48(Ct, transposed(j0), 32, 32 * rows, weights(), rows, kb, true);
  }
};

// One tile of 48 queries [i0, i0+48) of head (b, n) against every key it can see. K and V are
// the head's rows, ldk and ldv apart: round_up(Lk, 8) rows of K, rows of V with round_up(Dv, 16)
// readable columns (see HeadCopy; not read with AMX). O: 48 rows of round_up(Dv, 16), or with
// AMX Oᵀ: round_up(Dv, 16) rows of 48.
// V: vectors of queries in use (3; fewer for a last tile of at most 32 or 16 queries).
// kD: 64 where D = Dv = 64 (then every stride and length below is a constant), else 0.
// amx, values: the head's keys and values in parts (ScoreParts::load_keys and
// TransposedProduct::load done), or null (AVX-512 products).
template <bool kCausal, int V, int kD, bool kAmx>
void fused_forward_tile(const AttentionForward<float>& a, std::int64_t bk, std::int64_t b,
                        std::int64_t n, std::int64_t i0, const float* K, std::int64_t ldk,
                        const float* Vr, std::int64_t ldv, float* Qp, float* S, float* O,
                        ScoreParts* amx, TransposedProduct* values) {
  const AttentionOptions& o = a.opt;
  const std::int64_t N = o.N, D = kD ? kD : o.D, Dv = kD ? kD : o.Dv, Lq = o.Lq, Lk = o.Lk;
  if (kD) ldk = ldv = kD;
  const std::int64_t mq = std::min<std::int64_t>(kTq, Lq - i0), dvp = round_up(Dv, 16);
  const float c = static_cast<float>(o.scale * 1.4426950408889634);
  {  // Qp = c·Qᵀ (D × 48), queries past Lq zero
    const float* Q = a.q + ((b * Lq + i0) * N + n) * D;
    pack_transposed(Qp, Q, N * D, mq, D, c);
    if (kAmx) amx->load_queries(Qp, D);
    // The head's next two tiles (the next tasks, on one thread or the other): their queries
    // come from memory, and read cold here they cost 5 % of the forward.
    for (std::int64_t q = std::max<std::int64_t>(0, i0 - 2 * kTq); q < i0; ++q)
      for (std::int64_t d = 0; d < D; d += 16)
        _mm_prefetch(reinterpret_cast<const char*>(Q + (q - i0) * N * D + d), _MM_HINT_T1);
  }
  std::fill(O, O + dvp * kTq, 0.0f);
  // lanes past 16·V, which the blocks never write, read by query_rows' last 6-row block
  if (V < kTv) std::fill(S, S + bk * kTq, 0.0f);
  SoftmaxLanes st;
  st.start_tile();
  const __m512i qidx0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(i0)),
                                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const std::uint8_t* km = o.key_mask ? o.key_mask + b * Lk : nullptr;
  const std::int64_t kend = kCausal ? std::min(Lk, i0 + mq) : Lk;
  for (std::int64_t j0 = 0; j0 < kend; j0 += bk) {
    const std::int64_t nk = std::min(bk, kend - j0);
    st.start_block();
    if (kAmx) amx->product(S, j0, nk);  // Sᵀ, for the blocks' epilogues
    for (std::int64_t j = j0; j < j0 + nk; j += kTr) {
      unsigned valid = 0;
      for (int r = 0; r < kTr; ++r)
        valid |= static_cast<unsigned>(j + r < kend && (!km || km[j + r])) << r;
      const float* Kj = K + j * ldk;
      float* Pr = S + (j - j0) * kTq;
      if (!kCausal || j + kTr - 1 <= i0)
        probabilities_fwd_block<false, V, 0, kD, kAmx>(Pr, S, j - j0, Kj, ldk, Qp, D, valid, j, qidx0, st);
      else
        with_unseen_vectors<V>(j, i0, [&](auto s0) {
          probabilities_fwd_block<true, V, decltype(s0)::value, kD, kAmx>(Pr, S, j - j0, Kj, ldk, Qp, D,
                                                                    valid, j, qidx0, st);
        });
    }
    st.end_block();
    if constexpr (kAmx) {
      if (st.rescaled) scale_columns(O, dvp, st.alpha);
      values->product(O, S, j0, nk);
    } else {
      query_rows<kD>(O, dvp, dvp, st.alpha, S, Vr + j0 * ldv, ldv, mq, nk,
                     kCausal ? i0 - j0 : kNoDiagonal);
    }
  }
  for (std::int64_t q = 0; q < mq; ++q) {
    float* __restrict out = a.o + ((b * Lq + i0 + q) * N + n) * Dv;
    const float lq = st.l[q];
    const bool seen = !(lq <= 0.0f);  // as in forward_tile: NaN is carried, 0 means all masked
    if constexpr (kAmx) write_column(out, O + q, Dv, seen ? 1.0f / lq : 0.0f);
    else write_row(out, O + q * dvp, Dv, seen ? 1.0f / lq : 0.0f);
    // +inf for a fully masked row: exp(s - lse) is then 0 for every key in backward
    a.lse[(b * N + n) * Lq + i0 + q] =
        seen ? st.m[q] * 0.6931471805599453f + std::log(lq) : std::numeric_limits<float>::infinity();
  }
  _mm_sfence();
}

// One thread's contiguous copy of a head's keys and values. Read in place, a head's rows lie
// N·D floats apart, which at N·D = 256 maps them onto a quarter of the L2 sets: at L = 2048 its
// keys and values (1 MiB) then no longer stay in L2 from one query tile to the next. (Keys in
// blocks of 8, D × 8 each, for contiguous broadcasts, ran forward and backward 3-6 % slower;
// copying the rows as causal tiles first need them, with the next tile's rows prefetched, was
// no faster than this one copy per head.)
// K: round_up(Lk, 8) rows of D; V: round_up(Lk, 8) rows of round_up(Dv, 16); zero-padded.
// Either may be left out (k or v null) where the AMX tiles take that operand in parts instead;
// with `copies` false (AMX: every product takes parts) neither is made, and no room for them.
struct HeadCopy {
  std::int64_t Lk, D, Dv, dvp, head = -1;
  Buffer<float> K, V;
  HeadCopy(std::int64_t Lk_, std::int64_t D_, std::int64_t Dv_, bool copies = true)
      : Lk(Lk_), D(D_), Dv(Dv_), dvp(round_up(Dv_, 16)), K(copies ? round_up(Lk_, kTr) * D_ : 0),
        V(copies ? round_up(Lk_, kTr) * dvp : 0) {}
  // false (nothing done) where head bn is the one already loaded
  bool load(std::int64_t bn, const float* k, std::int64_t ldk, const float* v, std::int64_t ldv) {
    if (bn == head) return false;
    head = bn;
    for (std::int64_t j = 0; j < Lk; ++j) {
      if (k) std::copy(k + j * ldk, k + j * ldk + D, K.get() + j * D);
      if (v) {
        std::copy(v + j * ldv, v + j * ldv + Dv, V.get() + j * dvp);
        std::fill(V.get() + j * dvp + Dv, V.get() + (j + 1) * dvp, 0.0f);
      }
    }
    if (k) std::fill(K.get() + Lk * D, K.get() + round_up(Lk, kTr) * D, 0.0f);
    if (v) std::fill(V.get() + Lk * dvp, V.get() + round_up(Lk, kTr) * dvp, 0.0f);
    return true;
  }
};

template <bool kCausal>
void fused_forward_impl(const AttentionForward<float>& a) {
  const AttentionOptions& o = a.opt;
  int bq_set = 0, bk_set = 0;
  get_attention_tiles(&bq_set, &bk_set);
  const bool use_amx = attention_amx_enabled();
  // with AMX, key blocks start at multiples of 32 (TransposedProduct)
  const std::int64_t bk = round_up(bk_set > 0 ? bk_set : use_amx ? 32 : 128, use_amx ? 32 : kTr);
  const std::int64_t N = o.N, D = o.D, Dv = o.Dv, Lk = o.Lk, BN = o.B * N;
  const std::int64_t nqt = (o.Lq + kTq - 1) / kTq, dvp = round_up(Dv, 16);
  std::atomic<std::int64_t> next{0};
  run_team([&](const Team&) {
    Buffer<float> Qp(D * kTq), S(round_up(bk, 16) * kTq), O(dvp * kTq);
    HeadCopy kv(Lk, D, Dv, !use_amx);
    std::unique_ptr<ScoreParts> amx(use_amx ? new ScoreParts(Lk, D) : nullptr);
    std::unique_ptr<TransposedProduct> values(use_amx ? new TransposedProduct(Lk, Dv, bk) : nullptr);
    if (amx) amx_begin();
    // Head by head (its keys and values stay in L2 for all its query tiles); within a head,
    // the last query tiles first (under causal masking they see the most keys). Whole heads per
    // task where they spread evenly over the team (each head is then copied once), else tiles.
    const std::int64_t nth = std::max(1, get_num_threads());
    const std::int64_t per = BN % nth == 0 || BN >= 4 * nth ? nqt : 1;
    const bool d64 = D == 64 && Dv == 64;
    for_tasks(next, BN * nqt / per, [&](std::int64_t task) {
      for (std::int64_t t = task * per; t < (task + 1) * per; ++t) {
        const std::int64_t bn = t / nqt, qt = nqt - 1 - t % nqt, b = bn / N, n = bn % N;
        const float* k = a.k + (b * Lk * N + n) * D;
        const float* v = a.v + (b * Lk * N + n) * Dv;
        if (kv.load(bn, amx ? nullptr : k, N * D, amx ? nullptr : v, N * Dv) && amx) {
          amx->load_keys(k, N * D, Lk, D);
          values->load(v, N * Dv, Lk, Dv);
        }
        const std::int64_t mq = std::min<std::int64_t>(kTq, o.Lq - qt * kTq);
        auto run = [&](auto nv, auto amx_on) {
          constexpr int V = decltype(nv)::value;
          constexpr bool A = decltype(amx_on)::value;
          auto tile = d64 ? fused_forward_tile<kCausal, V, 64, A> : fused_forward_tile<kCausal, V, 0, A>;
          tile(a, bk, b, n, qt * kTq, kv.K.get(), D, kv.V.get(), dvp, Qp.get(), S.get(), O.get(),
               amx.get(), values.get());
        };
        with_tile_shape(mq, amx != nullptr, run);
      }
    });
    if (amx) amx_end();
  });
}
#endif  // PYSEQ_ISA_LEVEL >= 2

// ---- backward ----------------------------------------------------------------------------------

// One thread's scratch for backward_tile.
template <typename T>
struct BackwardScratch {
  Buffer<T> P, dP, dK, dV, KTp, VTp, Kp;
  BackwardScratch(const Tiles& t, std::int64_t D, std::int64_t Dv)
      : P(t.bq * t.bk), dP(t.bq * t.bk), dK(t.bk * D), dV(t.bk * Dv),
        KTp(packed_size<T, kNVs>(D, t.bk)), VTp(packed_size<T, kNVs>(Dv, t.bk)),
        Kp(packed_size<T, kNVd>(t.bk, D)) {}
};

// One key tile [j0, j0+nk) of head (b, n) against every query tile that can see it: writes its
// rows of dk and dv and adds this tile's share of dq into dq_acc (same layout as dq).
template <typename T, bool kDropout>
void backward_tile(const AttentionBackward<T>& a, const Tiles& t, std::int64_t b, std::int64_t n,
                   std::int64_t j0, const T* drow, T* dq_acc, BackwardScratch<T>& w,
                   std::uint32_t threshold) {
  T* P = w.P.get();
  T* dP = w.dP.get();
  T* dK = w.dK.get();
  T* dV = w.dV.get();
  const AttentionOptions& o = a.opt;
  const std::int64_t N = o.N, D = o.D, Dv = o.Dv, Lq = o.Lq, Lk = o.Lk, BK = t.bk;
  const std::int64_t nk = std::min(BK, Lk - j0);
  const T scale = static_cast<T>(o.scale);
  const T inv_keep = static_cast<T>(1.0 / (1.0 - o.dropout));
  const T* K = a.k + ((b * Lk + j0) * N + n) * D;
  const T* V = a.v + ((b * Lk + j0) * N + n) * Dv;
  const T* lse = a.lse + (b * N + n) * Lq;
  const T* Dr = drow + (b * N + n) * Lq;
  std::fill(dK, dK + nk * D, T(0));
  std::fill(dV, dV + nk * Dv, T(0));
  // This key tile's operands, packed once for every query tile: (scale·K)ᵀ, Vᵀ and scale·K.
  pack_keys_transposed<T>(w.KTp.get(), K, N * D, nk, D, scale);
  pack_keys_transposed<T>(w.VTp.get(), V, N * Dv, nk, Dv, T(1));
  pack_rows_plain<T>(w.Kp.get(), K, N * D, nk, D, scale);
  // Under causal masking query i sees key j0 only from i = j0 on.
  const std::int64_t i_first = o.causal ? j0 / t.bq * t.bq : 0;
  for (std::int64_t i0 = i_first; i0 < Lq; i0 += t.bq) {
    const std::int64_t mq = std::min(t.bq, Lq - i0);
    const T* Q = a.q + ((b * Lq + i0) * N + n) * D;
    const T* dO = a.dout + ((b * Lq + i0) * N + n) * Dv;
    // forward: S = scale · Q Kᵀ, P = exp(S - lse)
    scores_gemm<T, kNVs>(mq, nk, D, Q, N * D, w.KTp.get(), P, BK, o.causal, i0 - j0);
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
    if constexpr (std::is_same_v<T, float>) {
      // causal masking inside the exp pass unless another mask needs mask_scores anyway
      const bool other_masks = o.key_mask || o.attn_mask;
      if (other_masks) mask_scores(P, BK, o, b, i0, mq, j0, nk);
      probabilities(P, BK, lse + i0, mq, nk, o.causal && !other_masks, i0 - j0);
    } else
#endif
    {
      mask_scores(P, BK, o, b, i0, mq, j0, nk);
      for (std::int64_t r = 0; r < mq; ++r) {
        T* __restrict p = P + r * BK;
        const T L = lse[i0 + r];
#pragma omp simd
        for (std::int64_t j = 0; j < nk; ++j) p[j] = softmax_exp<T>(p[j] - L);
      }
    }
    // dP = dO Vᵀ, the gradient reaching P∘Z
    scores_gemm<T, kNVs>(mq, nk, Dv, dO, N * Dv, w.VTp.get(), dP, BK, o.causal, i0 - j0);
    // dS = P ∘ (dP∘Z - Drow) into dP; P becomes P∘Z for dV. Where P = 0 dS is 0 whatever dP
    // holds (blocks above the causal diagonal were not computed).
    for (std::int64_t r = 0; r < mq; ++r) {
      T* __restrict p = P + r * BK;
      T* __restrict dp = dP + r * BK;
      const T dr = Dr[i0 + r];
      if (kDropout) {
        const std::uint64_t key =
            dropout_row_key(o.seed, static_cast<std::uint64_t>((b * N + n) * Lq + i0 + r));
#pragma omp simd
        for (std::int64_t j = 0; j < nk; ++j) {
          const std::uint32_t bits = dropout_bits(key, static_cast<std::uint32_t>(j0 + j));
          const T z = bits >= threshold ? inv_keep : T(0);
          dp[j] = p[j] == T(0) ? T(0) : p[j] * (dp[j] * z - dr);
          p[j] *= z;
        }
      } else {
#pragma omp simd
        for (std::int64_t j = 0; j < nk; ++j) dp[j] = p[j] == T(0) ? T(0) : p[j] * (dp[j] - dr);
      }
    }
    // forward: acc += (P∘Z) V  ->  dV += (P∘Z)ᵀ dO
    transposed_keys_gemm<T>(nk, Dv, mq, T(1), P, BK, dO, N * Dv, dV, Dv, o.causal, i0 - j0);
    // forward: S = scale · Q Kᵀ  ->  dK += scale · dSᵀ Q,  dQ += scale · dS K
    transposed_keys_gemm<T>(nk, D, mq, scale, dP, BK, Q, N * D, dK, D, o.causal, i0 - j0);
    keys_gemm<T, kNVd>(mq, D, nk, dP, BK, w.Kp.get(), nk * kNRd<T>,
                       dq_acc + ((b * Lq + i0) * N + n) * D, N * D, o.causal, i0 - j0);
  }
  for (std::int64_t r = 0; r < nk; ++r) {
    std::copy(dK + r * D, dK + (r + 1) * D, a.dk + ((b * Lk + j0 + r) * N + n) * D);
    std::copy(dV + r * Dv, dV + (r + 1) * Dv, a.dv + ((b * Lk + j0 + r) * N + n) * Dv);
  }
}

// Drow = rowsum(dO ∘ o), (B,N,Lq): this thread's share of the rows.
template <typename T>
void row_dots(const AttentionBackward<T>& a, T* drow, int tid, int nth) {
  const std::int64_t Lq = a.opt.Lq, N = a.opt.N, Dv = a.opt.Dv;
  auto [r0, r1] = team_share(a.opt.B * Lq * N, tid, nth);
  for (std::int64_t r = r0; r < r1; ++r) {
    const T* __restrict x = a.dout + r * Dv;
    const T* __restrict y = a.o + r * Dv;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t d = 0; d < Dv; ++d) sum += x[d] * y[d];
    const std::int64_t b = r / (Lq * N), i = r / N % Lq, n = r % N;
    drow[(b * N + n) * Lq + i] = sum;
  }
}

template <typename T, bool kDropout>
void backward_impl(const AttentionBackward<T>& a) {
  const AttentionOptions& o = a.opt;
  const Tiles t = choose_tiles(o, true);
  const std::int64_t B = o.B, N = o.N, Lq = o.Lq, D = o.D, Dv = o.Dv, BN = B * N;
  const std::int64_t nkb = (o.Lk + t.bk - 1) / t.bk;
  const std::uint32_t threshold = kDropout ? attention_dropout_threshold(o.dropout) : 0;
  const int nth_max = std::max(1, get_num_threads());
  // Whole heads per task when they spread evenly over the team: each head's dq then has one
  // owner. Otherwise (few heads: B·N = 1 must still use every core) tasks are key tiles, and
  // each thread adds its share of dq into a private copy, summed at the end.
  const bool by_heads = BN % nth_max == 0 || BN >= 4 * nth_max;
  Buffer<T> drow(BN * Lq);
  std::vector<T*> shares(nth_max, nullptr);  // each thread's dq accumulator (key-tile tasks)
  std::atomic<std::int64_t> next{0};
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    row_dots(a, drow.get(), tid, nth);
    BackwardScratch<T> scratch(t, D, Dv);
    const bool private_dq = !by_heads && tid > 0;
    std::unique_ptr<Buffer<T>> dq_own(private_dq ? new Buffer<T>(B * Lq * N * D) : nullptr);
    T* dq_acc = private_dq ? dq_own->get() : a.dq;
    if (private_dq) std::fill(dq_acc, dq_acc + B * Lq * N * D, T(0));
    if (!by_heads && tid == 0) std::fill(a.dq, a.dq + B * Lq * N * D, T(0));
    team.barrier();  // drow complete (and dq zeroed)
    if (by_heads) {
      for_tasks(next, BN, [&](std::int64_t bn) {
        const std::int64_t b = bn / N, n = bn % N;
        for (std::int64_t i = 0; i < Lq; ++i) {
          T* row = a.dq + ((b * Lq + i) * N + n) * D;
          std::fill(row, row + D, T(0));
        }
        for (std::int64_t kb = 0; kb < nkb; ++kb)
          backward_tile<T, kDropout>(a, t, b, n, kb * t.bk, drow.get(), a.dq, scratch, threshold);
      });
      return;
    }
    // Tasks dealt round-robin, not on demand: each dq share then sums the same tiles in the same
    // order on every call, so results are reproducible bit for bit (for a given thread count).
    // Under causal masking the cost falls with kb, which round-robin spreads evenly.
    for (std::int64_t task = tid; task < BN * nkb; task += nth) {
      const std::int64_t kb = task / BN, bn = task % BN;
      backward_tile<T, kDropout>(a, t, bn / N, bn % N, kb * t.bk, drow.get(), dq_acc, scratch,
                                 threshold);
    }
    shares[tid] = dq_acc;
    team.barrier();
    // dq = the sum of the team's shares, each thread for a share of the rows
    auto [e0, e1] = team_share(B * Lq * N * D, tid, nth, 16);
    for (int s = 1; s < nth; ++s) {
      const T* __restrict src = shares[s];
      T* __restrict dst = a.dq;
#pragma omp simd
      for (std::int64_t e = e0; e < e1; ++e) dst[e] += src[e];
    }
    team.barrier();  // every share read before its owner frees it
  });
}

#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
// ---- backward, AVX-512 float: queries along the vector lanes ------------------------------------
// As the forward: per head, per tile of 48 queries (outer) and block of BK keys (inner), with the
// queries on the vector lanes, so that lse and Drow are lane vectors:
//   Pᵀ = 2^(K (c·Q)ᵀ - log2(e)·lse)  (c = scale·log2 e; rows of keys masked as in forward)
//   dSᵀ = Pᵀ ∘ (V (scale·dO)ᵀ - scale·Drow)  (in the epilogue of the dPᵀ block, Pᵀ still in L1)
//   dV += Pᵀ dO;  dK += dSᵀ Q;  dQ += dS K   per key block (dS carries the scale, so dK and dQ
//   need none)
// Taken for float without attn_mask or dropout, D and Dv multiples of 16, and heads enough for
// one per task (each thread then owns its head's dK, dV and each query tile's dQ outright).

// Pᵀ and dSᵀ = Pᵀ ∘ (dPᵀ - drow) rows [j, j+8) (rows of 48) for K, V rows [j, j+8) (ldk, ldv
// apart); Qp = c·Qᵀ (D × 48), dOp = scale·dOᵀ (Dv × 48); lse2 = log2(e)·lse and drow =
// scale·Drow per query (48 each). They and the query indices are read after the products, not
// held in registers across them: with the 24 accumulators they would not fit in the 32 registers.
// kFromProducts: P and dS already hold these rows of Sᵀ and dPᵀ (from the AMX tiles), K, V, Qp
// and dOp are not read.
template <bool kCausal, int NV, int S0, int kD, bool kFromProducts = false>
__attribute__((noinline)) void probabilities_block(float* __restrict P, float* __restrict dS,
                                const float* __restrict K, std::int64_t ldk,
                                const float* __restrict V, std::int64_t ldv,
                                const float* __restrict Qp, std::int64_t D,
                                const float* __restrict dOp, std::int64_t Dv, unsigned valid,
                                std::int64_t j, std::int64_t i0, const float* lse2,
                                const float* drow) {
  if (kD) ldk = ldv = D = Dv = kD;
  // S0 leading vectors of queries come before every one of these keys (causal): P = dS = 0 there
  constexpr int W = NV - S0;
  const __m512 zero = _mm512_setzero_ps();
  for (int r = 0; r < kTr; ++r)
    for (int v = 0; v < S0; ++v) {
      _mm512_storeu_ps(P + r * kTq + 16 * v, zero);
      _mm512_storeu_ps(dS + r * kTq + 16 * v, zero);
    }
  P += 16 * S0, dS += 16 * S0, Qp += 16 * S0, dOp += 16 * S0, lse2 += 16 * S0, drow += 16 * S0;
  i0 += 16 * S0;
  __m512 acc[kTr][W];
  for (int r = 0; r < kTr; ++r)
    for (int v = 0; v < W; ++v) acc[r][v] = kFromProducts ? _mm512_loadu_ps(P + r * kTq + 16 * v) : zero;
  if (!kFromProducts) block_fma<kTr, W>(acc, K, ldk, 1, Qp, kTq, D);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
#pragma GCC unroll 8
  for (int r = 0; r < kTr; ++r) {
    const bool keep = valid >> r & 1u;
    for (int v = 0; v < W; ++v) {
      __m512 t = keep ? _mm512_sub_ps(acc[r][v], _mm512_load_ps(lse2 + 16 * v)) : ninf;
      if (kCausal)
        t = hide_unseen(t, _mm512_add_epi32(
                               _mm512_set1_epi32(static_cast<int>(i0 + 16 * v)),
                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
                        j + r);
      _mm512_storeu_ps(P + r * kTq + 16 * v, exp2_ps(t));
    }
  }
  for (int r = 0; r < kTr; ++r)
    for (int v = 0; v < W; ++v) acc[r][v] = kFromProducts ? _mm512_loadu_ps(dS + r * kTq + 16 * v) : zero;
  if (!kFromProducts) block_fma<kTr, W>(acc, V, ldv, 1, dOp, kTq, Dv);
#pragma GCC unroll 8
  for (int r = 0; r < kTr; ++r)
    for (int v = 0; v < W; ++v)
      _mm512_storeu_ps(dS + r * kTq + 16 * v,
                       _mm512_mul_ps(_mm512_loadu_ps(P + r * kTq + 16 * v),
                                     _mm512_sub_ps(acc[r][v], _mm512_load_ps(drow + 16 * v))));
}

// C rows [0, R) (ldc apart), columns [0, 16·NV) += A (R keys × queries [q0, 16·QV), rows of 48) ·
// X (those queries' rows, ldx apart, 16·NV columns): dV += Pᵀ dO and dK += dSᵀ Q for R keys and
// the tile's queries from q0 on (the earlier ones do not see these keys).
template <int R, int NV, int QV, int kD>
inline void keys_block(float* __restrict C, std::int64_t ldc_, const float* __restrict A,
                       const float* __restrict X, std::int64_t ldx_, std::int64_t q0) {
  const std::int64_t ldc = kD ? kD : ldc_, ldx = kD ? kD : ldx_;
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_loadu_ps(C + r * ldc + 16 * v);
  block_fma<R, NV>(acc, A + q0, kTq, 1, X + q0 * ldx, ldx, 16 * QV - q0);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, acc[r][v]);
}

// C (keys × cols, ldc apart) rows [0, nrows) += A · X for an even number of keys, on register
// blocks of 6 keys × 64 columns (and 4 or 2 keys; 48, 32 or 16 columns): in isolation 90 % of
// the FMA peak against 80 % for the 8 × 32 blocks of one probabilities_block's keys, so the
// key-side products run once per key block instead (backward 1-4 % faster). Under causal masking
// (diag = i0 - j0: key row r is seen by query lanes q >= r - diag) each block of keys starts at
// the first query that sees it.
template <int QV, int kD = 0>
inline void keys_rows(float* C, std::int64_t ldc, const float* A, const float* X, std::int64_t ldx,
                      std::int64_t cols, std::int64_t nrows, std::int64_t diag = kNoDiagonal) {
  if (kD) ldc = ldx = cols = kD;
  for (std::int64_t r0 = 0; r0 < nrows; r0 += 6) {
    const std::int64_t q0 = std::max<std::int64_t>(0, r0 - diag);
    if (q0 >= 16 * QV) break;  // these keys and every later one come after the tile's queries
    float* c = C + r0 * ldc;
    const float* a = A + r0 * kTq;
    auto rows = [&](auto rr) {
      constexpr int R = decltype(rr)::value;
      std::int64_t c0 = 0;
      for (; c0 + 64 <= cols; c0 += 64) keys_block<R, 4, QV, kD>(c + c0, ldc, a, X + c0, ldx, q0);
      switch ((cols - c0) / 16) {
        case 3: keys_block<R, 3, QV, kD>(c + c0, ldc, a, X + c0, ldx, q0); break;
        case 2: keys_block<R, 2, QV, kD>(c + c0, ldc, a, X + c0, ldx, q0); break;
        case 1: keys_block<R, 1, QV, kD>(c + c0, ldc, a, X + c0, ldx, q0); break;
        default: break;
      }
    };
    const std::int64_t rem = nrows - r0;
    if (rem >= 6) rows(std::integral_constant<int, 6>{});
    else if (rem >= 4) rows(std::integral_constant<int, 4>{});
    else rows(std::integral_constant<int, 2>{});
  }
}

// Keys per pass of fused_backward_head (a multiple of bk): with AMX, as many as keep the pass's
// key-side data within kKeyBytes (of a 2 MiB L2), in passes of equal size; on the FMA path all of
// them (passes measured 1-3 % slower there); or set_attention_key_chunk's.
std::int64_t key_chunk(std::int64_t Lk, std::int64_t D, std::int64_t Dv, std::int64_t bk, bool amx) {
  constexpr std::int64_t kKeyBytes = std::int64_t(1) << 20;
  if (const int set = get_attention_key_chunk(); set > 0) return round_up(set, bk);
  if (!amx) return round_up(Lk, bk);
  // dK and dV in float32; K, V and Kᵀ in three bfloat16 parts
  const std::int64_t per_key = 4 * (D + Dv) + 6 * (round_up(D, 32) + round_up(Dv, 32) + round_up(D, 16));
  const std::int64_t passes = std::max<std::int64_t>(1, (Lk * per_key + kKeyBytes - 1) / kKeyBytes);
  return round_up((Lk + passes - 1) / passes, bk);
}

// One thread's state for fused_backward_head: the head's keys and values, its dK and dV
// (round_up(Lk, 8) rows), and one query tile's packed operands and dQ (48 rows, row-major);
// with AMX, the operands of the tiles' products in parts (P and dS then take whole tiles of 16
// keys) and no copy of the keys and values.
struct FusedBackwardScratch {
  std::int64_t chunk;  // keys per pass over the query tiles, a multiple of bk
  HeadCopy kv;
  Buffer<float> dK, dV, Qp, Qr, dOp, dOr, P, dS, dQ;
  // with AMX: Sᵀ = K (c·Q)ᵀ, dPᵀ = V (scale·dO)ᵀ, dQᵀ += Kᵀ dSᵀ (dQ then holds dQᵀ, rows of 48);
  // null: AVX-512 products
  std::unique_ptr<ScoreParts> scores, grads;
  std::unique_ptr<TransposedProduct> keys_t;
  FusedBackwardScratch(std::int64_t Lk, std::int64_t D, std::int64_t Dv, std::int64_t bk, bool amx)
      : chunk(key_chunk(Lk, D, Dv, bk, amx)), kv(Lk, D, Dv, !amx), dK(round_up(Lk, kTr) * D), dV(round_up(Lk, kTr) * Dv), Qp(D * kTq),
        Qr(kTq * D), dOp(Dv * kTq), dOr(kTq * Dv), P(round_up(bk, 16) * kTq),
        dS(round_up(bk, 16) * kTq), dQ(kTq * D),
        scores(amx ? new ScoreParts(Lk, D) : nullptr), grads(amx ? new ScoreParts(Lk, Dv) : nullptr),
        keys_t(amx ? new TransposedProduct(Lk, D, bk) : nullptr) {}
};

// The query tile [i0, i0 + 48) of head (b, n) against the keys [c0, c1) it sees: adds to the
// head's dK and dV in w and to the tile's rows of a.dq (written where c0 = 0, streamed where
// c1 = Lk). kD: 64 where D = Dv = 64 (then every stride and length below is a constant), else 0.
template <bool kCausal, int kD>
void fused_backward_tile(const AttentionBackward<float>& a, std::int64_t bk, std::int64_t b,
                         std::int64_t n, std::int64_t i0, std::int64_t c0, std::int64_t c1,
                         FusedBackwardScratch& w) {
  const AttentionOptions& o = a.opt;
  const std::int64_t N = o.N, D = kD ? kD : o.D, Dv = kD ? kD : o.Dv, Lq = o.Lq, Lk = o.Lk,
                     bn = b * N + n;
  const float c = static_cast<float>(o.scale * 1.4426950408889634), scale = static_cast<float>(o.scale);
  ScoreParts *amx_s = w.scores.get(), *amx_dp = w.grads.get();
  TransposedProduct* amx_dq = w.keys_t.get();
  const float* K = w.kv.K.get();  // the copies, read on the FMA path only
  const float* V = w.kv.V.get();
  float *dK = w.dK.get(), *dV = w.dV.get(), *Qp = w.Qp.get(), *Qr = w.Qr.get(),
        *dOp = w.dOp.get(), *dOr = w.dOr.get(), *P = w.P.get(), *dS = w.dS.get(),
        *dQ = w.dQ.get();
  const std::uint8_t* km = o.key_mask ? o.key_mask + b * Lk : nullptr;
  const std::int64_t mq = std::min<std::int64_t>(kTq, Lq - i0);
  // The tile's operands, padded with zero queries: c·Qᵀ, Q, dOᵀ, dO; lse2 and drow by lane
  // (+inf and 0 past Lq, so that padded queries have P = 0).
  const float* Q = a.q + ((b * Lq + i0) * N + n) * D;
  const float* dO = a.dout + ((b * Lq + i0) * N + n) * Dv;
  // Q and dO rows for dK and dV, copied contiguous and zero-padded past mq: read in place, the
  // tile's rows (N·D floats apart) fall into a quarter of the L1 sets (backward 3 % slower).
  if (mq < kTq) {
    std::fill(Qr + mq * D, Qr + kTq * D, 0.0f);
    std::fill(dOr + mq * Dv, dOr + kTq * Dv, 0.0f);
  }
  for (std::int64_t q = 0; q < mq; ++q) {
    std::copy(Q + q * N * D, Q + q * N * D + D, Qr + q * D);
    std::copy(dO + q * N * Dv, dO + q * N * Dv + Dv, dOr + q * Dv);
  }
  pack_transposed(Qp, Qr, D, kTq, D, c);
  pack_transposed(dOp, dOr, Dv, kTq, Dv, scale);
  if (amx_s) {
    amx_s->load_queries(Qp, D);
    amx_dp->load_queries(dOp, Dv);
  }
  if (i0 + 2 * kTq <= Lq) {  // the next tile's rows, from memory
    for (std::int64_t q = kTq; q < 2 * kTq; ++q) {
      for (std::int64_t d = 0; d < D; d += 16)
        _mm_prefetch(reinterpret_cast<const char*>(Q + q * N * D + d), _MM_HINT_T1);
      for (std::int64_t d = 0; d < Dv; d += 16)
        _mm_prefetch(reinterpret_cast<const char*>(dO + q * N * Dv + d), _MM_HINT_T1);
    }
  }
  // lse2 and scale·Drow = scale·rowsum(dO ∘ o) by lane
  alignas(64) float l2[kTq], dr[kTq];
  for (std::int64_t q = 0; q < kTq; ++q) {
    l2[q] = q < mq ? a.lse[bn * Lq + i0 + q] * 1.4426950408889634f
                   : std::numeric_limits<float>::infinity();
    dr[q] = 0.0f;
    if (q < mq) {
      const float* __restrict orow = a.o + ((b * Lq + i0 + q) * N + n) * Dv;
      const float* __restrict grow = dOr + q * Dv;
      __m512 acc = _mm512_setzero_ps();
      for (std::int64_t d = 0; d < Dv; d += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(grow + d), _mm512_loadu_ps(orow + d), acc);
      dr[q] = scale * _mm512_reduce_add_ps(acc);
    }
  }
  // dQ (dQᵀ with AMX): zero, or the earlier passes' sum
  float* dq = a.dq + ((b * Lq + i0) * N + n) * D;
  if (c0 == 0) std::fill(dQ, dQ + kTq * D, 0.0f);
  else if (amx_dq) pack_transposed(dQ, dq, N * D, mq, D, 1.0f);
  else
    for (std::int64_t q = 0; q < mq; ++q) std::copy(dq + q * N * D, dq + q * N * D + D, dQ + q * D);
  // queries past mq in a last tile of 16·NV < 48 lanes: dS lanes the blocks never write, read
  // by query_rows' last 6-row block; zero so that they stay finite
  if (mq <= 32) std::fill(dS, dS + bk * kTq, 0.0f);
  const std::int64_t kend = kCausal ? std::min(c1, i0 + mq) : c1;
  // NV: vectors of queries in use (3; fewer for a last tile of at most 32 or 16 queries)
  // kAmx: the score products come from the tiles, the blocks do their epilogues only
  auto keys = [&](auto nv, auto amx) {
    constexpr int NV = decltype(nv)::value;
    constexpr bool kAmx = decltype(amx)::value;
    for (std::int64_t j0 = c0; j0 < kend; j0 += bk) {
      const std::int64_t nk = std::min(bk, kend - j0);
      if (kAmx) {  // Sᵀ into P and dPᵀ into dS
        amx_s->product(P, j0, nk);
        amx_dp->product(dS, j0, nk);
      }
      for (std::int64_t j = j0; j < j0 + nk; j += kTr) {
        unsigned valid = 0xFF;
        if (km || j + kTr > kend)
          for (int r = 0; r < kTr; ++r)
            if (j + r >= kend || (km && !km[j + r])) valid &= ~(1u << r);
        float* Pj = P + (j - j0) * kTq;
        float* dSj = dS + (j - j0) * kTq;
        if (!kCausal || j + kTr - 1 <= i0)
          probabilities_block<false, NV, 0, kD, kAmx>(Pj, dSj, K + j * D, D, V + j * Dv, Dv, Qp,
                                                      D, dOp, Dv, valid, j, i0, l2, dr);
        else
          with_unseen_vectors<NV>(j, i0, [&](auto s0) {
            probabilities_block<true, NV, decltype(s0)::value, kD, kAmx>(
                Pj, dSj, K + j * D, D, V + j * Dv, Dv, Qp, D, dOp, Dv, valid, j, i0, l2, dr);
          });
      }
      // rows past kend have P = dS = 0: dK, dV have round_up(Lk, 8) rows to take them
      const std::int64_t nr = round_up(nk, kTr);
      const std::int64_t diag = kCausal ? i0 - j0 : kNoDiagonal;
      keys_rows<NV, kD>(dV + j0 * Dv, Dv, P, dOr, Dv, Dv, nr, diag);
      keys_rows<NV, kD>(dK + j0 * D, D, dS, Qr, D, D, nr, diag);
      if (kAmx) amx_dq->product(dQ, dS, j0, nk);
      else query_rows<kD>(dQ, D, D, nullptr, dS, K + j0 * D, D, mq, nk, diag);
    }
  };
  with_tile_shape(mq, amx_s != nullptr, keys);
  for (std::int64_t q = 0; q < mq; ++q) {  // streamed where the last pass writes
    if (amx_dq) write_column(dq + q * N * D, dQ + q, D, 1.0f, c1 == Lk);
    else write_row(dq + q * N * D, dQ + q * D, D, 1.0f, c1 == Lk);
  }
}

// Head (b, n): its keys and values into w (copies, or parts with AMX), then the query tiles over
// the keys in passes of w.chunk: every query tile reads the key-side data of all the keys it sees
// (k, v or their parts, dK, dV), which must stay in L2 from one tile to the next. dQ is summed in
// a.dq over the passes; dK and dV are written out at the end.
template <bool kCausal, int kD>
void fused_backward_head(const AttentionBackward<float>& a, std::int64_t bk, std::int64_t b,
                         std::int64_t n, FusedBackwardScratch& w) {
  const AttentionOptions& o = a.opt;
  const std::int64_t N = o.N, D = kD ? kD : o.D, Dv = kD ? kD : o.Dv, Lq = o.Lq, Lk = o.Lk;
  const float *k = a.k + (b * Lk * N + n) * D, *v = a.v + (b * Lk * N + n) * Dv;
  const bool amx = w.scores != nullptr;
  // with AMX every product that reads k or v takes its parts instead
  w.kv.load(b * N + n, amx ? nullptr : k, N * D, amx ? nullptr : v, N * Dv);
  if (amx) {
    w.scores->load_keys(k, N * D, Lk, D);
    w.grads->load_keys(v, N * Dv, Lk, Dv);
    w.keys_t->load(k, N * D, Lk, D);
  }
  float *dK = w.dK.get(), *dV = w.dV.get();
  std::fill(dK, dK + round_up(Lk, kTr) * D, 0.0f);
  std::fill(dV, dV + round_up(Lk, kTr) * Dv, 0.0f);
  for (std::int64_t c0 = 0; c0 < Lk; c0 += w.chunk) {
    const std::int64_t c1 = std::min(Lk, c0 + w.chunk);
    for (std::int64_t i0 = 0; i0 < Lq; i0 += kTq)
      // (causal: a tile whose queries all come before c0 sees none of these keys)
      if (!kCausal || i0 + std::min<std::int64_t>(kTq, Lq - i0) > c0)
        fused_backward_tile<kCausal, kD>(a, bk, b, n, i0, c0, c1, w);
  }
  for (std::int64_t j = 0; j < Lk; ++j) {
    write_row(a.dk + ((b * Lk + j) * N + n) * D, dK + j * D, D, 1.0f);
    write_row(a.dv + ((b * Lk + j) * N + n) * Dv, dV + j * Dv, Dv, 1.0f);
  }
  _mm_sfence();
}

template <bool kCausal>
void fused_backward_impl(const AttentionBackward<float>& a) {
  const AttentionOptions& o = a.opt;
  int bq_set = 0, bk_set = 0;
  get_attention_tiles(&bq_set, &bk_set);
  const bool use_amx = attention_amx_enabled();
  // with AMX, key blocks start at multiples of 32 (TransposedProduct)
  const std::int64_t bk = round_up(bk_set > 0 ? bk_set : 64, use_amx ? 32 : kTr);
  const std::int64_t N = o.N, BN = o.B * N;
  std::atomic<std::int64_t> next{0};
  run_team([&](const Team&) {
    FusedBackwardScratch w(o.Lk, o.D, o.Dv, bk, use_amx);
    if (use_amx) amx_begin();
    const bool d64 = o.D == 64 && o.Dv == 64;
    for_tasks(next, BN, [&](std::int64_t bn) {
      if (d64) fused_backward_head<kCausal, 64>(a, bk, bn / N, bn % N, w);
      else fused_backward_head<kCausal, 0>(a, bk, bn / N, bn % N, w);
    });
    if (use_amx) amx_end();
  });
}
#endif  // PYSEQ_ISA_LEVEL >= 2

}  // namespace

template <typename T>
void attention_forward(const AttentionForward<T>& a) {
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
  if constexpr (std::is_same_v<T, float>) {
    if (a.opt.dropout == 0 && !a.opt.attn_mask && !a.scores) {
      if (a.opt.causal) fused_forward_impl<true>(a);
      else fused_forward_impl<false>(a);
      return;
    }
  }
#endif
  if (a.opt.dropout > 0) forward_impl<T, true>(a);
  else forward_impl<T, false>(a);
}

template <typename T>
void attention_backward(const AttentionBackward<T>& a) {
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
  if constexpr (std::is_same_v<T, float>) {
    const AttentionOptions& o = a.opt;
    const std::int64_t BN = o.B * o.N, nth = std::max(1, get_num_threads());
    if (o.dropout == 0 && !o.attn_mask && o.D % 16 == 0 && o.Dv % 16 == 0 &&
        (BN % nth == 0 || BN >= 4 * nth)) {
      if (o.causal) fused_backward_impl<true>(a);
      else fused_backward_impl<false>(a);
      return;
    }
  }
#endif
  if (a.opt.dropout > 0) backward_impl<T, true>(a);
  else backward_impl<T, false>(a);
}

template void attention_forward<float>(const AttentionForward<float>&);
template void attention_forward<double>(const AttentionForward<double>&);
template void attention_backward<float>(const AttentionBackward<float>&);
template void attention_backward<double>(const AttentionBackward<double>&);

}  // namespace pyseq::cpu::PYSEQ_ISA
