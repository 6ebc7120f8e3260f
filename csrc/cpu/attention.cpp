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
#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "blas.h"
#include "rnn_common.h"
#include "vec_math.h"

#ifndef PYSEQ_ISA
#error "PYSEQ_ISA must name the ISA namespace this file is compiled for"
#endif

namespace pyseq::cpu::PYSEQ_ISA {

namespace {

template <typename T> inline T exp_(T x);
template <> inline float exp_<float>(float x) { return math::fast_exp(x); }
template <> inline double exp_<double>(double x) { return std::exp(x); }

template <typename T> constexpr T kNegInf = -std::numeric_limits<T>::infinity();

struct Tiles {
  std::int64_t bq, bk;
};

Tiles choose_tiles(const AttentionOptions& o) {
  int bq = 0, bk = 0;
  get_attention_tiles(&bq, &bk);
  // A tile of S (BQ×BK) plus the q, k, v, dO rows of one tile pair stay within L2 (1-2 MiB).
  if (bq <= 0) bq = 64;
  if (bk <= 0) bk = 128;
  return {std::min<std::int64_t>(bq, o.Lq), std::min<std::int64_t>(bk, o.Lk)};
}

// The scaled scores of rows [i0, i0+mq) against keys [j0, j0+nk) for head (b, n), masked to -inf
// in place. S holds q·kᵀ on entry.
template <typename T>
void mask_scores(T* S, std::int64_t ldS, const AttentionOptions& o, std::int64_t b,
                 std::int64_t i0, std::int64_t mq, std::int64_t j0, std::int64_t nk) {
  const T scale = static_cast<T>(o.scale);
  const std::uint8_t* km = o.key_mask ? o.key_mask + b * o.Lk + j0 : nullptr;
  // The causal mask only bites where the tile reaches above the diagonal.
  const bool causal = o.causal && j0 + nk - 1 > i0;
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
      s[j] = keep ? s[j] * scale : kNegInf<T>;
    }
  }
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

// ---- forward -----------------------------------------------------------------------------------

// One query tile of one head against every key tile it can see.
// o rows [i0, i0+mq) of head (b, n) (B,Lq,N,Dv), lse (B,N,Lq), scores (B,N,Lq,Lk) or null.
template <typename T, bool kDropout>
void forward_tile(const AttentionForward<T>& a, const Tiles& t, std::int64_t b, std::int64_t n,
                  std::int64_t i0, T* S, T* acc, T* m, T* l, std::uint32_t threshold) {
  const AttentionOptions& o = a.opt;
  const std::int64_t N = o.N, D = o.D, Dv = o.Dv, Lq = o.Lq, Lk = o.Lk, BK = t.bk;
  const std::int64_t mq = std::min(t.bq, Lq - i0);
  const T* Q = a.q + ((b * Lq + i0) * N + n) * D;
  // Keys past the tile's last query are all masked under causal masking.
  const std::int64_t kend = o.causal ? std::min(Lk, i0 + mq) : Lk;
  std::fill(acc, acc + mq * Dv, T(0));
  std::fill(m, m + mq, kNegInf<T>);
  std::fill(l, l + mq, T(0));
  for (std::int64_t j0 = 0; j0 < kend; j0 += BK) {
    const std::int64_t nk = std::min(BK, kend - j0);
    const T* K = a.k + ((b * Lk + j0) * N + n) * D;
    const T* V = a.v + ((b * Lk + j0) * N + n) * Dv;
    // S = Q Kᵀ (mq × nk)
    blas::gemm<T>(false, true, mq, nk, D, T(1), Q, N * D, K, N * D, T(0), S, BK);
    mask_scores(S, BK, o, b, i0, mq, j0, nk);
    for (std::int64_t r = 0; r < mq; ++r) {
      T* __restrict s = S + r * BK;
      if (a.scores) std::copy(s, s + nk, a.scores + ((b * N + n) * Lq + i0 + r) * Lk + j0);
      T mx = kNegInf<T>;
#pragma omp simd reduction(max : mx)
      for (std::int64_t j = 0; j < nk; ++j) mx = std::max(mx, s[j]);
      const T m_new = std::max(m[r], mx);
      if (m_new == kNegInf<T>) {  // every key so far masked: nothing to add
        std::fill(s, s + nk, T(0));
        continue;
      }
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (std::int64_t j = 0; j < nk; ++j) {
        const T p = s[j] == kNegInf<T> ? T(0) : exp_<T>(s[j] - m_new);
        s[j] = p;
        sum += p;
      }
      if (m[r] != m_new) {
        const T alpha = m[r] == kNegInf<T> ? T(0) : exp_<T>(m[r] - m_new);
        l[r] *= alpha;
        T* __restrict ar = acc + r * Dv;
#pragma omp simd
        for (std::int64_t d = 0; d < Dv; ++d) ar[d] *= alpha;
        m[r] = m_new;
      }
      l[r] += sum;
      if (kDropout) apply_dropout(s, o, threshold, b, n, i0 + r, j0, nk);
    }
    // acc += P V (mq × Dv)
    blas::gemm<T>(false, false, mq, Dv, nk, T(1), S, BK, V, N * Dv, T(1), acc, Dv);
  }
  for (std::int64_t r = 0; r < mq; ++r) {
    T* __restrict out = a.o + ((b * Lq + i0 + r) * N + n) * Dv;
    const T* __restrict ar = acc + r * Dv;
    const T inv = l[r] > T(0) ? T(1) / l[r] : T(0);
#pragma omp simd
    for (std::int64_t d = 0; d < Dv; ++d) out[d] = ar[d] * inv;
    const T lse = l[r] > T(0) ? m[r] + std::log(l[r]) : kNegInf<T>;
    a.lse[(b * N + n) * Lq + i0 + r] = lse;
    if (a.scores) {  // the raw masked scores written above become the normalised weights
      T* __restrict w = a.scores + ((b * N + n) * Lq + i0 + r) * Lk;
#pragma omp simd
      for (std::int64_t j = 0; j < kend; ++j)
        w[j] = w[j] == kNegInf<T> ? T(0) : exp_<T>(w[j] - lse);
      std::fill(w + kend, w + Lk, T(0));
    }
  }
}

template <typename T, bool kDropout>
void forward_impl(const AttentionForward<T>& a) {
  const AttentionOptions& o = a.opt;
  const Tiles t = choose_tiles(o);
  const std::int64_t BN = o.B * o.N, nqb = (o.Lq + t.bq - 1) / t.bq;
  const std::uint32_t threshold = kDropout ? attention_dropout_threshold(o.dropout) : 0;
  std::atomic<std::int64_t> next{0};
  run_team([&](const Team&) {
    Buffer<T> S(t.bq * t.bk), acc(t.bq * o.Dv), m(t.bq), l(t.bq);
    // Causal: the last query tiles see the most keys, so they go first.
    for_tasks(next, BN * nqb, [&](std::int64_t task) {
      const std::int64_t qb = nqb - 1 - task / BN, bn = task % BN;
      forward_tile<T, kDropout>(a, t, bn / o.N, bn % o.N, qb * t.bq, S.get(), acc.get(),
                                m.get(), l.get(), threshold);
    });
  });
}

// ---- backward ----------------------------------------------------------------------------------

// One key tile [j0, j0+nk) of head (b, n) against every query tile that can see it: writes its
// rows of dk and dv and adds this tile's share of dq into dq_acc (same layout as dq).
template <typename T, bool kDropout>
void backward_tile(const AttentionBackward<T>& a, const Tiles& t, std::int64_t b, std::int64_t n,
                   std::int64_t j0, const T* drow, T* dq_acc, T* P, T* dP, T* dK, T* dV,
                   std::uint32_t threshold) {
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
  // Under causal masking query i sees key j0 only from i = j0 on.
  const std::int64_t i_first = o.causal ? j0 / t.bq * t.bq : 0;
  for (std::int64_t i0 = i_first; i0 < Lq; i0 += t.bq) {
    const std::int64_t mq = std::min(t.bq, Lq - i0);
    const T* Q = a.q + ((b * Lq + i0) * N + n) * D;
    const T* dO = a.dout + ((b * Lq + i0) * N + n) * Dv;
    // forward: S = scale · Q Kᵀ, P = exp(S - lse)
    blas::gemm<T>(false, true, mq, nk, D, T(1), Q, N * D, K, N * D, T(0), P, BK);
    mask_scores(P, BK, o, b, i0, mq, j0, nk);
    for (std::int64_t r = 0; r < mq; ++r) {
      T* __restrict p = P + r * BK;
      const T L = lse[i0 + r];
#pragma omp simd
      for (std::int64_t j = 0; j < nk; ++j) p[j] = p[j] == kNegInf<T> ? T(0) : exp_<T>(p[j] - L);
    }
    // dP = dO Vᵀ, the gradient reaching P∘Z
    blas::gemm<T>(false, true, mq, nk, Dv, T(1), dO, N * Dv, V, N * Dv, T(0), dP, BK);
    // dS = P ∘ (dP∘Z - Drow) into dP; P becomes P∘Z for dV
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
          dp[j] = p[j] * (dp[j] * z - dr);
          p[j] *= z;
        }
      } else {
#pragma omp simd
        for (std::int64_t j = 0; j < nk; ++j) dp[j] = p[j] * (dp[j] - dr);
      }
    }
    // forward: acc += (P∘Z) V  ->  dV += (P∘Z)ᵀ dO
    blas::gemm<T>(true, false, nk, Dv, mq, T(1), P, BK, dO, N * Dv, T(1), dV, Dv);
    // forward: S = scale · Q Kᵀ  ->  dK += scale · dSᵀ Q,  dQ += scale · dS K
    blas::gemm<T>(true, false, nk, D, mq, scale, dP, BK, Q, N * D, T(1), dK, D);
    blas::gemm<T>(false, false, mq, D, nk, scale, dP, BK, K, N * D, T(1),
                  dq_acc + ((b * Lq + i0) * N + n) * D, N * D);
  }
  for (std::int64_t r = 0; r < nk; ++r) {
    std::copy(dK + r * D, dK + (r + 1) * D, a.dk + ((b * Lk + j0 + r) * N + n) * D);
    std::copy(dV + r * Dv, dV + (r + 1) * Dv, a.dv + ((b * Lk + j0 + r) * N + n) * Dv);
  }
}

template <typename T, bool kDropout>
void backward_impl(const AttentionBackward<T>& a) {
  const AttentionOptions& o = a.opt;
  const Tiles t = choose_tiles(o);
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
    {  // Drow = rowsum(dO ∘ o), (B,N,Lq)
      auto [r0, r1] = team_share(B * Lq * N, tid, nth);
      for (std::int64_t r = r0; r < r1; ++r) {
        const T* __restrict x = a.dout + r * Dv;
        const T* __restrict y = a.o + r * Dv;
        T sum = 0;
#pragma omp simd reduction(+ : sum)
        for (std::int64_t d = 0; d < Dv; ++d) sum += x[d] * y[d];
        const std::int64_t b = r / (Lq * N), i = r / N % Lq, n = r % N;
        drow.get()[(b * N + n) * Lq + i] = sum;
      }
    }
    Buffer<T> P(t.bq * t.bk), dP(t.bq * t.bk), dK(t.bk * D), dV(t.bk * Dv);
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
          backward_tile<T, kDropout>(a, t, b, n, kb * t.bk, drow.get(), a.dq, P.get(), dP.get(),
                                     dK.get(), dV.get(), threshold);
      });
      return;
    }
    // Causal: the first key tiles are seen by the most queries, so they go first.
    for_tasks(next, BN * nkb, [&](std::int64_t task) {
      const std::int64_t kb = task / BN, bn = task % BN;
      backward_tile<T, kDropout>(a, t, bn / N, bn % N, kb * t.bk, drow.get(), dq_acc, P.get(),
                                 dP.get(), dK.get(), dV.get(), threshold);
    });
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

}  // namespace

template <typename T>
void attention_forward(const AttentionForward<T>& a) {
  if (a.opt.dropout > 0) forward_impl<T, true>(a);
  else forward_impl<T, false>(a);
}

template <typename T>
void attention_backward(const AttentionBackward<T>& a) {
  if (a.opt.dropout > 0) backward_impl<T, true>(a);
  else backward_impl<T, false>(a);
}

template void attention_forward<float>(const AttentionForward<float>&);
template void attention_forward<double>(const AttentionForward<double>&);
template void attention_backward<float>(const AttentionBackward<float>&);
template void attention_backward<double>(const AttentionBackward<double>&);

}  // namespace pyseq::cpu::PYSEQ_ISA
