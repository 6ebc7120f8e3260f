// What the recurrent families' CUDA kernels share (lstm.cu, gru.cu, simple_rnn.cu): the step
// order, the state set-up, the tiled recurrent products of the fused step kernels, column sums.
// Legend: B batch, T steps, H hidden units, G gates per unit (LSTM 4, GRU 3, SimpleRNN 1).
//
// A step kernel's block owns kRows batch rows × kUnits hidden units (one thread per (b, j), all
// G gates of unit j), so the gate update that follows the product needs no other block's result;
// the next step's kernel launch is the grid-wide barrier.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gemm.h"
#include "rnn_cells.cuh"

namespace pyseq::cuda::rnn {

constexpr int kRows = 16;   // batch rows per block
constexpr int kUnits = 16;  // hidden units per block
constexpr int kThreads = kRows * kUnits;
constexpr int kChunk = 32;  // inner-product slice staged in shared memory

inline unsigned blocks_for(std::int64_t n, int threads) {
  return unsigned((n + threads - 1) / threads);
}
inline dim3 step_grid(std::int64_t B, std::int64_t H) {
  return dim3(blocks_for(H, kUnits), blocks_for(B, kRows));
}

// h_state, c_state (nullable) <- h0, c0 (or zeros); h_in[:, first step] = h0∘m (m the recurrent
// dropout mask, or ones); first_valid (B,) <- the processing position of each row's first valid
// step (T when none). One thread per (b, j). h_in is (B,T,H).
template <typename T>
__global__ void init_states_kernel(T* __restrict__ h_state, T* __restrict__ c_state,
                                   T* __restrict__ h_in, std::int32_t* __restrict__ first_valid,
                                   const T* __restrict__ h0, const T* __restrict__ c0,
                                   const std::uint8_t* __restrict__ mask,
                                   const T* __restrict__ dropout, std::int64_t B, int T_,
                                   std::int64_t H, bool reverse) {
  const std::int64_t at = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (at < B * H) init_state_at(at, h_state, c_state, h_in, first_valid, h0, c0, mask, dropout, T_, H, reverse);
}

// dst[i] = src[i] or zeros, for the running gradients of the states in backward.
template <typename T>
__global__ void copy_or_zero_kernel(T* __restrict__ dst, const T* __restrict__ src, std::int64_t n) {
  const std::int64_t at = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (at < n) dst[at] = src ? src[at] : T(0);
}

// Forward recurrent product of a step kernel: acc[g] += sum_k h_in[b, k]·U[k, g·H + j] for this
// thread's (b, j). h_rows: row b's recurrent input at h_rows[b·row_stride + k]; U (H, G·H).
// Every thread of the block must call it (it synchronises).
template <typename T, int G>
__device__ __forceinline__ void product_forward(T (&acc)[G], const T* __restrict__ h_rows,
                                                std::int64_t row_stride, const T* __restrict__ U,
                                                std::int64_t B, int H) {
  __shared__ T hs[kRows][kChunk];           // h_in rows
  __shared__ T us[kChunk][G * kUnits + 1];  // U columns of the block's units, gate-major
  const int tid = threadIdx.x, jl = tid % kUnits, bl = tid / kUnits;
  const int j0 = blockIdx.x * kUnits, b0 = blockIdx.y * kRows;
  const std::int64_t GH = std::int64_t(G) * H;
  for (int k0 = 0; k0 < H; k0 += kChunk) {
    for (int idx = tid; idx < kRows * kChunk; idx += kThreads) {
      const int r = idx / kChunk, kk = idx % kChunk;
      hs[r][kk] = (b0 + r < B && k0 + kk < H) ? h_rows[(b0 + r) * row_stride + k0 + kk] : T(0);
    }
    for (int idx = tid; idx < kChunk * G * kUnits; idx += kThreads) {
      const int kk = idx / (G * kUnits), col = idx % (G * kUnits), g = col / kUnits, u = col % kUnits;
      us[kk][col] = (k0 + kk < H && j0 + u < H) ? U[(k0 + kk) * GH + std::int64_t(g) * H + j0 + u] : T(0);
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kChunk; ++kk) {
      const T h = hs[bl][kk];
#pragma unroll
      for (int g = 0; g < G; ++g) acc[g] += h * us[kk][g * kUnits + jl];
    }
    __syncthreads();
  }
}

// Backward recurrent product of a step kernel: sum_c dz[b, c]·U[j, c] over the G·H gate columns,
// the gradient reaching h_in[b, j] (z = ... + h_in·U). dz_rows: row b at dz_rows[b·row_stride].
// Every thread of the block must call it.
template <typename T>
__device__ __forceinline__ T product_backward(const T* __restrict__ dz_rows, std::int64_t row_stride,
                                              const T* __restrict__ U, std::int64_t B, int H, int GH) {
  __shared__ T dzs[kRows][kChunk + 1];  // dz rows, a slice of the G·H columns
  __shared__ T us[kUnits][kChunk + 1];  // U rows of the block's units, the same slice
  const int tid = threadIdx.x, jl = tid % kUnits, bl = tid / kUnits;
  const int j0 = blockIdx.x * kUnits, b0 = blockIdx.y * kRows;
  T acc = 0;
  for (int c0 = 0; c0 < GH; c0 += kChunk) {
    for (int idx = tid; idx < kRows * kChunk; idx += kThreads) {
      const int r = idx / kChunk, cc = idx % kChunk;
      dzs[r][cc] = (b0 + r < B && c0 + cc < GH) ? dz_rows[(b0 + r) * row_stride + c0 + cc] : T(0);
    }
    for (int idx = tid; idx < kUnits * kChunk; idx += kThreads) {
      const int u = idx / kChunk, cc = idx % kChunk;
      us[u][cc] = (j0 + u < H && c0 + cc < GH) ? U[std::int64_t(j0 + u) * GH + c0 + cc] : T(0);
    }
    __syncthreads();
#pragma unroll 8
    for (int cc = 0; cc < kChunk; ++cc) acc += dzs[bl][cc] * us[jl][cc];
    __syncthreads();
  }
  return acc;
}

// This thread's (b, j) in a step kernel's grid (step_grid); false past B or H (such threads still
// take part in the block's products, which synchronise).
__device__ __forceinline__ bool step_thread(std::int64_t B, int H, int* b, int* j) {
  *j = blockIdx.x * kUnits + threadIdx.x % kUnits;
  *b = blockIdx.y * kRows + threadIdx.x / kUnits;
  return *b < B && *j < H;
}

// A forward step kernel's recurrent product at processing position s:
// acc[g] += (h_in[:, step_at(s)]·U)[b, g·H + j]. A: the family's forward arguments.
template <typename T, int G, typename A>
__device__ __forceinline__ void step_product_forward(T (&acc)[G], const A& a, int s) {
  const int H = int(a.H), T_ = int(a.T_);
  product_forward<T, G>(acc, a.h_in + std::int64_t(step_at(s, T_, a.reverse)) * H, std::int64_t(T_) * H,
                        a.recurrent_kernel, a.B, H);
}

// A backward step kernel's recurrent product at processing position s (kFinal: the tail, which
// reads position 0): (d[:, step_at(s_next)]·Uᵀ)[b, j], the gradient reaching h through the next
// position's recurrent input, with d (B,T,G·H) the gradient of the product's output (dz; GRU's
// da); zero past the last position.
template <typename T, int G, bool kFinal, typename A>
__device__ __forceinline__ T step_product_backward(const A& a, const T* d, int s) {
  const int H = int(a.H), T_ = int(a.T_), GH = G * H;
  const int s_next = kFinal ? 0 : s + 1;
  if (s_next >= T_) return T(0);
  return product_backward<T>(d + std::int64_t(step_at(s_next, T_, a.reverse)) * GH, std::int64_t(T_) * GH,
                             a.recurrent_kernel, a.B, H, GH);
}

// out (n,) = column sums of m (rows × n), one thread per column (coalesced across threads).
template <typename T>
__global__ void column_sum_kernel(T* __restrict__ out, const T* __restrict__ m, std::int64_t rows,
                                  std::int64_t n) {
  const std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= n) return;
  T s = 0;
  for (std::int64_t r = 0; r < rows; ++r) s += m[r * n + c];
  out[c] = s;
}

// ---- the host side every family runs alike -------------------------------------------------------

// Forward set-up: states from h0 (and c0 with c_state), h_in of the first step, first_valid;
// then x·W for all B·T rows into xw (B·T, G·H). A: the family's forward arguments.
template <typename T, typename A>
void forward_setup(const char* op, const A& a, int GH, T* xw, T* c_state, const T* c0) {
  init_states_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.h_last, c_state, a.h_in, a.first_valid, a.h0, c0,
                                                             a.mask, a.dropout_mask, a.B, int(a.T_), a.H,
                                                             a.reverse);
  check_launch(op);
  const int BT = int(a.B * a.T_), I = int(a.I);
  gemm<T>(op, false, false, BT, GH, I, T(1), a.x, I, a.kernel, GH, T(0), xw, GH);
}

// The forward time loop: one step kernel launch per processing position.
template <typename A>
void forward_steps(const char* op, const A& a, void (*step)(A, int)) {
  for (int s = 0; s < int(a.T_); ++s) {
    step<<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
}

// The backward time loop: step kernels from the last processing position to the first, then the
// tail that gives dh0.
template <typename A>
void backward_steps(const char* op, const A& a, void (*step)(A, int), void (*tail)(A, int)) {
  for (int s = int(a.T_) - 1; s >= 0; --s) {
    step<<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
  tail<<<step_grid(a.B, a.H), kThreads>>>(a, 0);
  check_launch(op);
}

// After the backward steps, products over all steps at once: dx = dgx·Wᵀ, dW = xᵀ·dgx,
// dU = h_inᵀ·da, dbias[:G·H] = Σ_rows dgx; dgx, da (B·T, G·H) the gradients of x·W and h_in·U
// (the same dz for LSTM and SimpleRNN). A: the family's backward arguments.
template <typename T, typename A>
void weight_gradients(const char* op, const A& a, int GH, const T* dgx, const T* da) {
  const int BT = int(a.B * a.T_), I = int(a.I), H = int(a.H);
  gemm<T>(op, false, true, BT, I, GH, T(1), dgx, GH, a.kernel, GH, T(0), a.dx, I);
  gemm<T>(op, true, false, I, GH, BT, T(1), a.x, I, dgx, GH, T(0), a.dkernel, GH);
  gemm<T>(op, true, false, H, GH, BT, T(1), a.h_in, H, da, GH, T(0), a.drecurrent_kernel, GH);
  column_sum_kernel<T><<<blocks_for(GH, 256), 256>>>(a.dbias, dgx, BT, GH);
  check_launch(op);
}

}  // namespace pyseq::cuda::rnn
