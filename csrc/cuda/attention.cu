// Fused softmax attention on the GPU, forward and backward, flash-style (the semantics of
// csrc/cpu/attention.h and docs/attention_contract.md). Forward: one block per (query tile, b, n)
// walks the key tiles it can see with an online softmax in shared memory and saves the
// log-sum-exp; no Lq×Lk matrix exists. Backward: a row pass computes Drow = rowsum(dO∘O), then one
// block per (key tile, b, n) walks the query tiles that see it, recomputing P = exp(s - lse),
// accumulating dK and dV in shared memory and adding dQ with atomics. Causal: tiles above the
// diagonal are never visited. Dropout: the same counter-based generator as the CPU kernel,
// regenerated in backward.
// Legend: B batch, N heads, Lq query length, Lk key length, D head size (q, k), Dv value size.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda_ops.h"
#include "dropout.cuh"

namespace pyseq::cuda {

namespace {

constexpr int kThreads = 128;  // 4 warps per block
constexpr int kWarps = kThreads / 32;

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
Params<T> params(const AttentionOptions& o, int Br, int Bc) {
  return Params<T>{o.key_mask, o.attn_mask, o.causal, o.dropout > 0.0, static_cast<T>(o.scale),
                   static_cast<T>(1.0 / (1.0 - o.dropout)), dropout_threshold(o.dropout), o.seed,
                   int(o.B), int(o.N), int(o.Lq), int(o.Lk), int(o.D), int(o.Dv), Br, Bc};
}

template <typename T>
__device__ __forceinline__ bool allowed(const Params<T>& p, int b, int i, int j) {
  if (p.causal && j > i) return false;
  if (p.key_mask && !p.key_mask[std::int64_t(b) * p.Lk + j]) return false;
  if (p.attn_mask && !p.attn_mask[(std::int64_t(b) * p.Lq + i) * p.Lk + j]) return false;
  return true;
}

template <typename T>
__device__ __forceinline__ T dot(const T* a, const T* b, int n) {
  T s = 0;
  for (int d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Row (b, i, n) of a (B, L, N, X) tensor.
__device__ __forceinline__ std::int64_t row_of(int b, int i, int n, int L, int N, int X) {
  return ((std::int64_t(b) * L + i) * N + n) * X;
}

// Shared memory (elements of T) of each kernel for tiles Br × Bc.
// Key and value rows in shared memory are padded by one element: threads reading k_c·q_r for
// consecutive c would otherwise all hit one bank when D is a multiple of 32.
std::size_t forward_smem(int Br, int Bc, std::int64_t D, std::int64_t Dv) {
  return std::size_t(Br) * D + std::size_t(Bc) * (D + 1 + Dv) + std::size_t(Br) * (Bc + 1) +
         std::size_t(Br) * Dv + 3 * std::size_t(Br);
}
std::size_t backward_smem(int Br, int Bc, std::int64_t D, std::int64_t Dv) {
  return std::size_t(Bc) * (D + 1 + Dv + 1) + std::size_t(Bc) * (D + Dv) +
         std::size_t(Br) * (D + Dv) + 2 * std::size_t(Br) * (Bc + 1) + 2 * std::size_t(Br);
}

// ---- forward -------------------------------------------------------------------------------------
// o (B,Lq,N,Dv), lse (B,N,Lq) <- q (B,Lq,N,D), k (B,Lk,N,D), v (B,Lk,N,Dv); grid (Lq/Br, B·N).
template <typename T>
__global__ void __launch_bounds__(kThreads)
attention_forward_kernel(T* __restrict__ o, T* __restrict__ lse, const T* __restrict__ q,
                         const T* __restrict__ k, const T* __restrict__ v, Params<T> p) {
  extern __shared__ unsigned char smem_bytes[];
  const int Br = p.Br, Bc = p.Bc, D = p.D, Dv = p.Dv, S = Bc + 1, KD = D + 1;  // padded rows
  T* Qs = reinterpret_cast<T*>(smem_bytes);  // Br × D
  T* Ks = Qs + Br * D;                       // Bc × KD
  T* Vs = Ks + Bc * KD;                      // Bc × Dv
  T* Ss = Vs + Bc * Dv;                      // Br × S: scores, then dropped-out weights
  T* Os = Ss + Br * S;                       // Br × Dv: unnormalised output
  T* m_s = Os + Br * Dv;                     // Br: running max
  T* l_s = m_s + Br;                         // Br: running sum of exp (before dropout)
  T* a_s = l_s + Br;                         // Br: rescale of the previous tiles

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.y / p.N, n = blockIdx.y % p.N;
  const int i0 = blockIdx.x * Br, rows = min(Br, p.Lq - i0);
  const T neg_inf = -INFINITY;

  for (int idx = tid; idx < rows * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    Qs[idx] = q[row_of(b, i0 + r, n, p.Lq, p.N, D) + d];
  }
  for (int idx = tid; idx < Br * Dv; idx += kThreads) Os[idx] = 0;
  for (int r = tid; r < Br; r += kThreads) {
    m_s[r] = neg_inf;
    l_s[r] = 0;
  }
  // Causal: query i sees keys 0..i, so this tile needs keys below i0 + rows only.
  const int j_end = p.causal ? min(p.Lk, i0 + rows) : p.Lk;
  for (int j0 = 0; j0 < j_end; j0 += Bc) {
    const int cols = min(Bc, p.Lk - j0);
    __syncthreads();  // the previous tile's Ks, Vs and Ss are consumed (and Qs is loaded)
    for (int idx = tid; idx < cols * D; idx += kThreads) {
      const int c = idx / D, d = idx % D;
      Ks[c * KD + d] = k[row_of(b, j0 + c, n, p.Lk, p.N, D) + d];
    }
    for (int idx = tid; idx < cols * Dv; idx += kThreads) {
      const int c = idx / Dv, e = idx % Dv;
      Vs[idx] = v[row_of(b, j0 + c, n, p.Lk, p.N, Dv) + e];
    }
    __syncthreads();
    for (int idx = tid; idx < rows * Bc; idx += kThreads) {
      const int r = idx / Bc, c = idx % Bc;
      const bool ok = c < cols && allowed(p, b, i0 + r, j0 + c);
      Ss[r * S + c] = ok ? p.scale * dot(Qs + r * D, Ks + c * KD, D) : neg_inf;
    }
    __syncthreads();
    // Online softmax, one warp per row: new max, weights exp(s - m), rescale of the old sum.
    for (int r = warp; r < rows; r += kWarps) {
      T mx = neg_inf;
      for (int c = lane; c < cols; c += 32) mx = fmax(mx, Ss[r * S + c]);
      mx = warp_max(mx);
      const T m_old = m_s[r], m_new = fmax(m_old, mx);
      const std::uint64_t key =
          p.dropout ? dropout_row_key(p.seed, (std::uint64_t(b) * p.N + n) * p.Lq + i0 + r) : 0;
      T sum = 0;
      for (int c = lane; c < Bc; c += 32) {
        const T s = c < cols ? Ss[r * S + c] : neg_inf;
        const T e = s == neg_inf ? T(0) : exp(s - m_new);  // m_new finite whenever s is
        sum += e;
        T w = e;
        if (p.dropout) w = dropout_bits(key, std::uint32_t(j0 + c)) >= p.threshold ? e * p.keep_scale : T(0);
        Ss[r * S + c] = w;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const T alpha = m_old == neg_inf ? T(0) : exp(m_old - m_new);
        l_s[r] = alpha * l_s[r] + sum;
        m_s[r] = m_new;
        a_s[r] = alpha;
      }
    }
    __syncthreads();
    // O = alpha·O + W·V over this key tile (padding columns carry zero weight).
    for (int idx = tid; idx < rows * Dv; idx += kThreads) {
      const int r = idx / Dv, e = idx % Dv;
      T acc = a_s[r] * Os[idx];
      for (int c = 0; c < cols; ++c) acc += Ss[r * S + c] * Vs[c * Dv + e];
      Os[idx] = acc;
    }
  }
  __syncthreads();
  for (int idx = tid; idx < rows * Dv; idx += kThreads) {
    const int r = idx / Dv, e = idx % Dv;
    const T l = l_s[r];
    o[row_of(b, i0 + r, n, p.Lq, p.N, Dv) + e] = l > 0 ? Os[idx] / l : T(0);
  }
  for (int r = tid; r < rows; r += kThreads) {
    const T l = l_s[r];
    lse[(std::int64_t(b) * p.N + n) * p.Lq + i0 + r] = l > 0 ? m_s[r] + log(l) : T(INFINITY);
  }
}

// ---- backward ------------------------------------------------------------------------------------
// drow (B,N,Lq) = rowsum(dO∘O), one thread per row: differentiates o_i = sum_j p_ij z_ij v_j
// through the softmax (dS_ij = p_ij (z_ij dO_i·v_j - dO_i·o_i)).
template <typename T>
__global__ void attention_drow_kernel(T* __restrict__ drow, const T* __restrict__ dout,
                                      const T* __restrict__ o, int B, int N, int Lq, int Dv) {
  const std::int64_t row = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (row >= std::int64_t(B) * N * Lq) return;
  const int i = int(row % Lq), n = int(row / Lq % N), b = int(row / Lq / N);
  const std::int64_t at = row_of(b, i, n, Lq, N, Dv);
  drow[row] = dot(dout + at, o + at, Dv);
}

// dq (B,Lq,N,D, zeroed, added with atomics), dk, dv <- dout, lse, drow, q, k, v;
// grid (Lk/Bc, B·N).
template <typename T>
__global__ void __launch_bounds__(kThreads)
attention_backward_kernel(T* __restrict__ dq, T* __restrict__ dk, T* __restrict__ dv,
                          const T* __restrict__ dout, const T* __restrict__ lse,
                          const T* __restrict__ drow, const T* __restrict__ q,
                          const T* __restrict__ k, const T* __restrict__ v, Params<T> p) {
  extern __shared__ unsigned char smem_bytes[];
  const int Br = p.Br, Bc = p.Bc, D = p.D, Dv = p.Dv, S = Bc + 1, KD = D + 1, VD = Dv + 1;
  T* Ks = reinterpret_cast<T*>(smem_bytes);  // Bc × KD
  T* Vs = Ks + Bc * KD;                      // Bc × VD
  T* dKs = Vs + Bc * VD;                     // Bc × D
  T* dVs = dKs + Bc * D;                     // Bc × Dv
  T* Qs = dVs + Bc * Dv;                     // Br × D
  T* dOs = Qs + Br * D;                      // Br × Dv
  T* Ps = dOs + Br * Dv;                     // Br × S: P∘Z (the weights o used)
  T* dSs = Ps + Br * S;                      // Br × S: dS (before the scale)
  T* lse_s = dSs + Br * S;                   // Br
  T* drow_s = lse_s + Br;                    // Br

  const int tid = threadIdx.x;
  const int b = blockIdx.y / p.N, n = blockIdx.y % p.N;
  const int j0 = blockIdx.x * Bc, cols = min(Bc, p.Lk - j0);
  const std::int64_t bn = std::int64_t(b) * p.N + n;

  for (int idx = tid; idx < cols * D; idx += kThreads) {
    const int c = idx / D, d = idx % D;
    Ks[c * KD + d] = k[row_of(b, j0 + c, n, p.Lk, p.N, D) + d];
    dKs[idx] = 0;
  }
  for (int idx = tid; idx < cols * Dv; idx += kThreads) {
    const int c = idx / Dv, e = idx % Dv;
    Vs[c * VD + e] = v[row_of(b, j0 + c, n, p.Lk, p.N, Dv) + e];
    dVs[idx] = 0;
  }
  // Causal: only queries i >= j0 see this tile; start at the query tile holding i = j0 (none
  // when j0 >= Lq).
  const int i_begin = p.causal ? (j0 >= p.Lq ? p.Lq : (j0 / Br) * Br) : 0;
  for (int i0 = i_begin; i0 < p.Lq; i0 += Br) {
    const int rows = min(Br, p.Lq - i0);
    __syncthreads();  // the previous query tile is consumed (and Ks, Vs are loaded)
    for (int idx = tid; idx < rows * D; idx += kThreads) {
      const int r = idx / D, d = idx % D;
      Qs[idx] = q[row_of(b, i0 + r, n, p.Lq, p.N, D) + d];
    }
    for (int idx = tid; idx < rows * Dv; idx += kThreads) {
      const int r = idx / Dv, e = idx % Dv;
      dOs[idx] = dout[row_of(b, i0 + r, n, p.Lq, p.N, Dv) + e];
    }
    for (int r = tid; r < rows; r += kThreads) {
      lse_s[r] = lse[bn * p.Lq + i0 + r];
      drow_s[r] = drow[bn * p.Lq + i0 + r];
    }
    __syncthreads();
    for (int idx = tid; idx < rows * Bc; idx += kThreads) {
      const int r = idx / Bc, c = idx % Bc, i = i0 + r, j = j0 + c;
      T pz = 0, ds = 0;
      // lse = +inf marks a fully masked row: P = 0 there, and so are its gradients.
      if (c < cols && lse_s[r] != T(INFINITY) && allowed(p, b, i, j)) {
        const T pij = exp(p.scale * dot(Qs + r * D, Ks + c * KD, D) - lse_s[r]);
        T z = 1;
        if (p.dropout) {
          const std::uint64_t key = dropout_row_key(p.seed, std::uint64_t(bn) * p.Lq + i);
          z = dropout_bits(key, std::uint32_t(j)) >= p.threshold ? p.keep_scale : T(0);
        }
        pz = pij * z;
        ds = pij * (z * dot(dOs + r * Dv, Vs + c * VD, Dv) - drow_s[r]);
      }
      Ps[r * S + c] = pz;
      dSs[r * S + c] = ds;
    }
    __syncthreads();
    // dV += (P∘Z)ᵀ·dO,  dK += scale·dSᵀ·Q  (this block owns the key tile: no atomics)
    for (int idx = tid; idx < cols * Dv; idx += kThreads) {
      const int c = idx / Dv, e = idx % Dv;
      T acc = 0;
      for (int r = 0; r < rows; ++r) acc += Ps[r * S + c] * dOs[r * Dv + e];
      dVs[idx] += acc;
    }
    for (int idx = tid; idx < cols * D; idx += kThreads) {
      const int c = idx / D, d = idx % D;
      T acc = 0;
      for (int r = 0; r < rows; ++r) acc += dSs[r * S + c] * Qs[r * D + d];
      dKs[idx] += p.scale * acc;
    }
    // dQ += scale·dS·K, shared by every key tile: atomics into the zeroed output.
    for (int idx = tid; idx < rows * D; idx += kThreads) {
      const int r = idx / D, d = idx % D;
      T acc = 0;
      for (int c = 0; c < cols; ++c) acc += dSs[r * S + c] * Ks[c * KD + d];
      if (acc != T(0)) atomicAdd(dq + row_of(b, i0 + r, n, p.Lq, p.N, D) + d, p.scale * acc);
    }
  }
  __syncthreads();
  for (int idx = tid; idx < cols * D; idx += kThreads) {
    const int c = idx / D, d = idx % D;
    dk[row_of(b, j0 + c, n, p.Lk, p.N, D) + d] = dKs[idx];
  }
  for (int idx = tid; idx < cols * Dv; idx += kThreads) {
    const int c = idx / Dv, e = idx % Dv;
    dv[row_of(b, j0 + c, n, p.Lk, p.N, Dv) + e] = dVs[idx];
  }
}

// keep (B,N,Lq,Lk) <- the generator; one thread per weight.
__global__ void dropout_mask_kernel(std::uint8_t* keep, std::uint64_t seed, std::int64_t rows,
                                    std::int64_t Lk, std::uint32_t threshold) {
  const std::int64_t at = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (at >= rows * Lk) return;
  keep[at] = dropout_bits(dropout_row_key(seed, std::uint64_t(at / Lk)), std::uint32_t(at % Lk)) >=
             threshold;
}

int max_smem_bytes() {
  int device = 0, bytes = 0;
  cudaGetDevice(&device);
  if (cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
    bytes = 48 * 1024;
  return bytes;
}

// The largest square tiles (64, 32, 16, 8 rows) whose shared memory fits; 0 if none does.
template <typename T, typename F>
int choose_tile(F smem_elems, std::int64_t D, std::int64_t Dv) {
  const std::size_t limit = std::size_t(max_smem_bytes());
  for (int t : {64, 32, 16, 8})
    if (smem_elems(t, t, D, Dv) * sizeof(T) <= limit) return t;
  return 0;
}

void check(const char* op, cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("[") + op + "] CUDA error in " + what + ": " +
                             cudaGetErrorString(e));
}

}  // namespace

template <typename T>
bool attention_fits(std::int64_t D, std::int64_t Dv) {
  return choose_tile<T>(forward_smem, D, Dv) > 0 && choose_tile<T>(backward_smem, D, Dv) > 0;
}

template <typename T>
void attention_forward(const AttentionForward<T>& a) {
  const char* op = "attention_forward";
  const AttentionOptions& o = a.opt;
  const int t = choose_tile<T>(forward_smem, o.D, o.Dv);
  if (t == 0) throw std::invalid_argument(std::string("[") + op + "] head sizes too large for the CUDA kernel");
  const Params<T> p = params<T>(o, t, t);
  const std::size_t smem = forward_smem(t, t, o.D, o.Dv) * sizeof(T);
  check(op, cudaFuncSetAttribute(attention_forward_kernel<T>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
        "cudaFuncSetAttribute");
  const dim3 grid(unsigned((o.Lq + t - 1) / t), unsigned(o.B * o.N));
  attention_forward_kernel<T><<<grid, kThreads, smem>>>(a.o, a.lse, a.q, a.k, a.v, p);
  check_launch(op);
}

template <typename T>
void attention_backward(const AttentionBackward<T>& a) {
  const char* op = "attention_backward";
  const AttentionOptions& o = a.opt;
  const int t = choose_tile<T>(backward_smem, o.D, o.Dv);
  if (t == 0) throw std::invalid_argument(std::string("[") + op + "] head sizes too large for the CUDA kernel");
  const Params<T> p = params<T>(o, t, t);
  const std::int64_t rows = o.B * o.N * o.Lq;
  T* drow = static_cast<T*>(device_alloc(op, std::size_t(rows) * sizeof(T)));
  try {
    attention_drow_kernel<T><<<unsigned((rows + 255) / 256), 256>>>(drow, a.dout, a.o, int(o.B),
                                                                   int(o.N), int(o.Lq), int(o.Dv));
    check_launch(op);
    zero(op, a.dq, std::size_t(o.B * o.Lq * o.N * o.D) * sizeof(T));
    const std::size_t smem = backward_smem(t, t, o.D, o.Dv) * sizeof(T);
    check(op, cudaFuncSetAttribute(attention_backward_kernel<T>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "cudaFuncSetAttribute");
    const dim3 grid(unsigned((o.Lk + t - 1) / t), unsigned(o.B * o.N));
    attention_backward_kernel<T><<<grid, kThreads, smem>>>(a.dq, a.dk, a.dv, a.dout, a.lse, drow,
                                                           a.q, a.k, a.v, p);
    check_launch(op);
  } catch (...) {
    device_free(drow);
    throw;
  }
  device_free(drow);  // stream-ordered: freed after the kernels that read it
}

void attention_dropout_mask(std::uint8_t* keep, std::uint64_t seed, std::int64_t B,
                            std::int64_t N, std::int64_t Lq, std::int64_t Lk, double p) {
  const std::int64_t n = B * N * Lq * Lk;
  dropout_mask_kernel<<<unsigned((n + 255) / 256), 256>>>(keep, seed, B * N * Lq, Lk,
                                                          dropout_threshold(p));
  check_launch("attention_dropout_mask");
}

template bool attention_fits<float>(std::int64_t, std::int64_t);
template bool attention_fits<double>(std::int64_t, std::int64_t);
template void attention_forward<float>(const AttentionForward<float>&);
template void attention_forward<double>(const AttentionForward<double>&);
template void attention_backward<float>(const AttentionBackward<float>&);
template void attention_backward<double>(const AttentionBackward<double>&);

}  // namespace pyseq::cuda
