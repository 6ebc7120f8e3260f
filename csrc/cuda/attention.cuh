// The attention kernels' block algorithms (attention.cu), for host and device: each block function
// is written for an executor that says which of the block's threads runs it and how they meet.
// On the GPU (DeviceExec in attention.cu) it is a 128-thread block with __syncthreads and warp
// shuffles; on the host (HostExec below) one thread runs every index and a "warp" of one lane, so
// that tests/cuda_attention_check.cu runs the same code without a GPU against the reference.
// Legend: B batch, N heads, Lq query length, Lk key length, D head size (q, k), Dv value size.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda_ops.h"
#include "dropout.cuh"

// The block functions call the executor's members, which are __device__ for DeviceExec: nvcc's
// host/device check is off for these templates (each executor is used on its own side only).
#if defined(__CUDACC__)
#define PYSEQ_HD_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define PYSEQ_HD_TEMPLATE
#endif

namespace pyseq::cuda {

__host__ __device__ inline int imin(int a, int b) { return a < b ? a : b; }

// One thread doing a whole block's work (host emulation): every loop over a block's indices
// runs all of them, a warp is one lane, barriers are no-ops.
struct HostExec {
  __host__ __device__ int tid() const { return 0; }
  __host__ __device__ int threads() const { return 1; }
  __host__ __device__ int lane() const { return 0; }
  __host__ __device__ int lanes() const { return 1; }
  __host__ __device__ int warp() const { return 0; }
  __host__ __device__ int warps() const { return 1; }
  __host__ __device__ void sync() const {}
  template <typename T> __host__ __device__ T row_max(T v) const { return v; }
  template <typename T> __host__ __device__ T row_sum(T v) const { return v; }
  template <typename T> __host__ __device__ void add(T* at, T v) const { *at += v; }
};

// Kernel-side copy of the options, with the dropout threshold and scale in kernel form.
template <typename T>
struct Params {
  const std::uint8_t* key_mask;
  const std::uint8_t* attn_mask;
  bool causal, dropout;
  T scale, keep_scale;  // keep_scale = 1/(1-p)
  std::uint32_t threshold;
  std::uint64_t seed;
  int B, N, Lq, Lk, D, Dv;
  int Br, Bc;  // query and key tile rows
};

template <typename T>
inline Params<T> params(const AttentionOptions& o, int Br, int Bc) {
  return Params<T>{o.key_mask, o.attn_mask, o.causal, o.dropout > 0.0, static_cast<T>(o.scale),
                   static_cast<T>(1.0 / (1.0 - o.dropout)), dropout_threshold(o.dropout), o.seed,
                   int(o.B), int(o.N), int(o.Lq), int(o.Lk), int(o.D), int(o.Dv), Br, Bc};
}

template <typename T>
__host__ __device__ inline bool allowed(const Params<T>& p, int b, int i, int j) {
  if (p.causal && j > i) return false;
  if (p.key_mask && !p.key_mask[std::int64_t(b) * p.Lk + j]) return false;
  if (p.attn_mask && !p.attn_mask[(std::int64_t(b) * p.Lq + i) * p.Lk + j]) return false;
  return true;
}

template <typename T>
__host__ __device__ inline T dot(const T* a, const T* b, int n) {
  T s = 0;
  for (int d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

// Row (b, i, n) of a (B, L, N, X) tensor.
__host__ __device__ inline std::int64_t row_of(int b, int i, int n, int L, int N, int X) {
  return ((std::int64_t(b) * L + i) * N + n) * X;
}

// Shared memory (elements of T) of each kernel for tiles Br × Bc.
// Key and value rows in shared memory are padded by one element: threads reading k_c·q_r for
// consecutive c would otherwise all hit one bank when D is a multiple of 32.
inline std::size_t forward_smem(int Br, int Bc, std::int64_t D, std::int64_t Dv) {
  return std::size_t(Br) * D + std::size_t(Bc) * (D + 1 + Dv) + std::size_t(Br) * (Bc + 1) +
         std::size_t(Br) * Dv + 3 * std::size_t(Br);
}
inline std::size_t backward_smem(int Br, int Bc, std::int64_t D, std::int64_t Dv) {
  return std::size_t(Bc) * (D + 1 + Dv + 1) + std::size_t(Bc) * (D + Dv) +
         std::size_t(Br) * (D + Dv) + 2 * std::size_t(Br) * (Bc + 1) + 2 * std::size_t(Br);
}

// One block of the forward: query tile `tile` of head bn = b·N + n, on the executor's threads.
// o (B,Lq,N,Dv), lse (B,N,Lq) <- q (B,Lq,N,D), k (B,Lk,N,D), v (B,Lk,N,Dv).
PYSEQ_HD_TEMPLATE
template <typename T, typename Exec>
__host__ __device__ void attention_forward_block(const Exec& ex, T* smem, int bn, int tile, T* __restrict__ o,
                                                 T* __restrict__ lse, const T* __restrict__ q,
                                                 const T* __restrict__ k, const T* __restrict__ v,
                                                 const Params<T>& p) {
  const int Br = p.Br, Bc = p.Bc, D = p.D, Dv = p.Dv, S = Bc + 1, KD = D + 1;  // padded rows
  T* Qs = smem;                              // Br × D
  T* Ks = Qs + Br * D;                       // Bc × KD
  T* Vs = Ks + Bc * KD;                      // Bc × Dv
  T* Ss = Vs + Bc * Dv;                      // Br × S: scores, then dropped-out weights
  T* Os = Ss + Br * S;                       // Br × Dv: unnormalised output
  T* m_s = Os + Br * Dv;                     // Br: running max
  T* l_s = m_s + Br;                         // Br: running sum of exp (before dropout)
  T* a_s = l_s + Br;                         // Br: rescale of the previous tiles

  const int tid = ex.tid(), lane = ex.lane(), warp = ex.warp();
  const int b = bn / p.N, n = bn % p.N;
  const int i0 = tile * Br, rows = imin(Br, p.Lq - i0);
  const T neg_inf = -INFINITY;

  for (int idx = tid; idx < rows * D; idx += ex.threads()) {
    const int r = idx / D, d = idx % D;
    Qs[idx] = q[row_of(b, i0 + r, n, p.Lq, p.N, D) + d];
  }
  for (int idx = tid; idx < Br * Dv; idx += ex.threads()) Os[idx] = 0;
  for (int r = tid; r < Br; r += ex.threads()) {
    m_s[r] = neg_inf;
    l_s[r] = 0;
  }
  // Causal: query i sees keys 0..i, so this tile needs keys below i0 + rows only.
  const int j_end = p.causal ? imin(p.Lk, i0 + rows) : p.Lk;
  for (int j0 = 0; j0 < j_end; j0 += Bc) {
    const int cols = imin(Bc, p.Lk - j0);
    ex.sync();  // the previous tile's Ks, Vs and Ss are consumed (and Qs is loaded)
    for (int idx = tid; idx < cols * D; idx += ex.threads()) {
      const int c = idx / D, d = idx % D;
      Ks[c * KD + d] = k[row_of(b, j0 + c, n, p.Lk, p.N, D) + d];
    }
    for (int idx = tid; idx < cols * Dv; idx += ex.threads()) {
      const int c = idx / Dv, e = idx % Dv;
      Vs[idx] = v[row_of(b, j0 + c, n, p.Lk, p.N, Dv) + e];
    }
    ex.sync();
    for (int idx = tid; idx < rows * Bc; idx += ex.threads()) {
      const int r = idx / Bc, c = idx % Bc;
      const bool ok = c < cols && allowed(p, b, i0 + r, j0 + c);
      Ss[r * S + c] = ok ? p.scale * dot(Qs + r * D, Ks + c * KD, D) : neg_inf;
    }
    ex.sync();
    // Online softmax, one warp per row: new max, weights exp(s - m), rescale of the old sum.
    for (int r = warp; r < rows; r += ex.warps()) {
      T mx = neg_inf;
      for (int c = lane; c < cols; c += ex.lanes()) mx = fmax(mx, Ss[r * S + c]);
      mx = ex.row_max(mx);
      const T m_old = m_s[r], m_new = fmax(m_old, mx);
      const std::uint64_t key =
          p.dropout ? dropout_row_key(p.seed, (std::uint64_t(b) * p.N + n) * p.Lq + i0 + r) : 0;
      T sum = 0;
      for (int c = lane; c < Bc; c += ex.lanes()) {
        const T s = c < cols ? Ss[r * S + c] : neg_inf;
        const T e = s == neg_inf ? T(0) : exp(s - m_new);  // m_new finite whenever s is; NaN stays
        sum += e;
        T w = e;
        if (p.dropout) w = dropout_bits(key, std::uint32_t(j0 + c)) >= p.threshold ? e * p.keep_scale : T(0);
        Ss[r * S + c] = w;
      }
      sum = ex.row_sum(sum);
      if (lane == 0) {
        const T alpha = m_old == neg_inf ? T(0) : exp(m_old - m_new);
        l_s[r] = alpha * l_s[r] + sum;
        m_s[r] = m_new;
        a_s[r] = alpha;
      }
    }
    ex.sync();
    // O = alpha·O + W·V over this key tile (padding columns carry zero weight).
    for (int idx = tid; idx < rows * Dv; idx += ex.threads()) {
      const int r = idx / Dv, e = idx % Dv;
      T acc = a_s[r] * Os[idx];
      for (int c = 0; c < cols; ++c) acc += Ss[r * S + c] * Vs[c * Dv + e];
      Os[idx] = acc;
    }
  }
  ex.sync();
  // l = 0: every key masked (zeros, lse = +inf); NaN (a NaN score: fmax skips it, exp keeps it)
  // is carried into o and lse, as on the CPU and in PyTorch.
  for (int idx = tid; idx < rows * Dv; idx += ex.threads()) {
    const int r = idx / Dv, e = idx % Dv;
    const T l = l_s[r];
    o[row_of(b, i0 + r, n, p.Lq, p.N, Dv) + e] = !(l <= 0) ? Os[idx] / l : T(0);
  }
  for (int r = tid; r < rows; r += ex.threads()) {
    const T l = l_s[r];
    lse[(std::int64_t(b) * p.N + n) * p.Lq + i0 + r] = !(l <= 0) ? m_s[r] + log(l) : T(INFINITY);
  }
}


// ---- backward ------------------------------------------------------------------------------------
// drow (B,N,Lq) = rowsum(dO∘O), one thread per row: differentiates o_i = sum_j p_ij z_ij v_j
// through the softmax (dS_ij = p_ij (z_ij dO_i·v_j - dO_i·o_i)).
template <typename T>
__host__ __device__ inline T attention_drow_at(std::int64_t row, const T* dout, const T* o, int N, int Lq, int Dv) {
  const int i = int(row % Lq), n = int(row / Lq % N), b = int(row / Lq / N);
  const std::int64_t at = row_of(b, i, n, Lq, N, Dv);
  return dot(dout + at, o + at, Dv);
}

// One block of the backward: key tile `tile` of head bn, on the executor's threads.
// dq (B,Lq,N,D, zeroed, added to), dk, dv <- dout, lse, drow, q, k, v.
PYSEQ_HD_TEMPLATE
template <typename T, typename Exec>
__host__ __device__ void attention_backward_block(const Exec& ex, T* smem, int bn, int tile, T* __restrict__ dq,
                                                  T* __restrict__ dk, T* __restrict__ dv,
                                                  const T* __restrict__ dout, const T* __restrict__ lse,
                                                  const T* __restrict__ drow, const T* __restrict__ q,
                                                  const T* __restrict__ k, const T* __restrict__ v,
                                                  const Params<T>& p) {
  const int Br = p.Br, Bc = p.Bc, D = p.D, Dv = p.Dv, S = Bc + 1, KD = D + 1, VD = Dv + 1;
  T* Ks = smem;                              // Bc × KD
  T* Vs = Ks + Bc * KD;                      // Bc × VD
  T* dKs = Vs + Bc * VD;                     // Bc × D
  T* dVs = dKs + Bc * D;                     // Bc × Dv
  T* Qs = dVs + Bc * Dv;                     // Br × D
  T* dOs = Qs + Br * D;                      // Br × Dv
  T* Ps = dOs + Br * Dv;                     // Br × S: P∘Z (the weights o used)
  T* dSs = Ps + Br * S;                      // Br × S: dS (before the scale)
  T* lse_s = dSs + Br * S;                   // Br
  T* drow_s = lse_s + Br;                    // Br

  const int tid = ex.tid();
  const int b = bn / p.N, n = bn % p.N;
  const int j0 = tile * Bc, cols = imin(Bc, p.Lk - j0);
  const std::int64_t head = std::int64_t(b) * p.N + n;

  for (int idx = tid; idx < cols * D; idx += ex.threads()) {
    const int c = idx / D, d = idx % D;
    Ks[c * KD + d] = k[row_of(b, j0 + c, n, p.Lk, p.N, D) + d];
    dKs[idx] = 0;
  }
  for (int idx = tid; idx < cols * Dv; idx += ex.threads()) {
    const int c = idx / Dv, e = idx % Dv;
    Vs[c * VD + e] = v[row_of(b, j0 + c, n, p.Lk, p.N, Dv) + e];
    dVs[idx] = 0;
  }
  // Causal: only queries i >= j0 see this tile; start at the query tile holding i = j0 (none
  // when j0 >= Lq).
  const int i_begin = p.causal ? (j0 >= p.Lq ? p.Lq : (j0 / Br) * Br) : 0;
  for (int i0 = i_begin; i0 < p.Lq; i0 += Br) {
    const int rows = imin(Br, p.Lq - i0);
    ex.sync();  // the previous query tile is consumed (and Ks, Vs are loaded)
    for (int idx = tid; idx < rows * D; idx += ex.threads()) {
      const int r = idx / D, d = idx % D;
      Qs[idx] = q[row_of(b, i0 + r, n, p.Lq, p.N, D) + d];
    }
    for (int idx = tid; idx < rows * Dv; idx += ex.threads()) {
      const int r = idx / Dv, e = idx % Dv;
      dOs[idx] = dout[row_of(b, i0 + r, n, p.Lq, p.N, Dv) + e];
    }
    for (int r = tid; r < rows; r += ex.threads()) {
      lse_s[r] = lse[head * p.Lq + i0 + r];
      drow_s[r] = drow[head * p.Lq + i0 + r];
    }
    ex.sync();
    for (int idx = tid; idx < rows * Bc; idx += ex.threads()) {
      const int r = idx / Bc, c = idx % Bc, i = i0 + r, j = j0 + c;
      T pz = 0, ds = 0;
      // lse = +inf marks a fully masked row: P = 0 there, and so are its gradients.
      if (c < cols && lse_s[r] != T(INFINITY) && allowed(p, b, i, j)) {
        const T pij = exp(p.scale * dot(Qs + r * D, Ks + c * KD, D) - lse_s[r]);
        T z = 1;
        if (p.dropout) {
          const std::uint64_t key = dropout_row_key(p.seed, std::uint64_t(head) * p.Lq + i);
          z = dropout_bits(key, std::uint32_t(j)) >= p.threshold ? p.keep_scale : T(0);
        }
        pz = pij * z;
        ds = pij * (z * dot(dOs + r * Dv, Vs + c * VD, Dv) - drow_s[r]);
      }
      Ps[r * S + c] = pz;
      dSs[r * S + c] = ds;
    }
    ex.sync();
    // dV += (P∘Z)ᵀ·dO,  dK += scale·dSᵀ·Q  (this block owns the key tile: no atomics)
    for (int idx = tid; idx < cols * Dv; idx += ex.threads()) {
      const int c = idx / Dv, e = idx % Dv;
      T acc = 0;
      for (int r = 0; r < rows; ++r) acc += Ps[r * S + c] * dOs[r * Dv + e];
      dVs[idx] += acc;
    }
    for (int idx = tid; idx < cols * D; idx += ex.threads()) {
      const int c = idx / D, d = idx % D;
      T acc = 0;
      for (int r = 0; r < rows; ++r) acc += dSs[r * S + c] * Qs[r * D + d];
      dKs[idx] += p.scale * acc;
    }
    // dQ += scale·dS·K, shared by every key tile: atomics into the zeroed output.
    for (int idx = tid; idx < rows * D; idx += ex.threads()) {
      const int r = idx / D, d = idx % D;
      T acc = 0;
      for (int c = 0; c < cols; ++c) acc += dSs[r * S + c] * Ks[c * KD + d];
      if (acc != T(0)) ex.add(dq + row_of(b, i0 + r, n, p.Lq, p.N, D) + d, p.scale * acc);
    }
  }
  ex.sync();
  for (int idx = tid; idx < cols * D; idx += ex.threads()) {
    const int c = idx / D, d = idx % D;
    dk[row_of(b, j0 + c, n, p.Lk, p.N, D) + d] = dKs[idx];
  }
  for (int idx = tid; idx < cols * Dv; idx += ex.threads()) {
    const int c = idx / Dv, e = idx % Dv;
    dv[row_of(b, j0 + c, n, p.Lk, p.N, Dv) + e] = dVs[idx];
  }
}

}  // namespace pyseq::cuda
