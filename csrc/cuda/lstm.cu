// LSTM over a whole sequence on the GPU, forward and backward (the semantics of csrc/cpu/lstm.h
// and docs/lstm_contract.md; Keras layout, gate order i, f, c (written g), o).
// Legend: B batch, T steps, I input features, H hidden units.
//
// Forward:  gates = x·W for all B·T rows in one cuBLAS product; then per step one fused kernel:
//           z = gates_t + h_in·U + b (the recurrent product, tiled in shared memory), activations,
//           c_t = f∘c_{t-1} + i∘g, h_t = o∘tanh(c_t), masks, and h_in of the next step.
// Backward: per step (in reverse processing order) one fused kernel: dh_t += dz_{next}·Uᵀ∘m (the
//           only product in the loop), then the gate gradients dz_t; afterwards dx = dz·Wᵀ,
//           dW = xᵀ·dz, dU = h_inᵀ·dz on cuBLAS and db = column sums of dz.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda_ops.h"
#include "gemm.h"

namespace pyseq::cuda {

namespace {

constexpr int G = 4;        // gates per unit
constexpr int kRows = 16;   // batch rows per block
constexpr int kUnits = 16;  // hidden units per block (all four gates of each)
constexpr int kChunk = 32;  // inner-product slice staged in shared memory

template <typename T> __device__ __forceinline__ T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }

// The processing position of step t, and the step at processing position s.
__device__ __forceinline__ int step_at(int s, int T_, bool reverse) { return reverse ? T_ - 1 - s : s; }

// h_last, c_last <- h0, c0 (or zeros); h_in[:, first step] = h0∘m; first_valid (B,) <- mask.
// One thread per (b, j); the j = 0 thread of each row also finds the row's first valid step.
template <typename T>
__global__ void lstm_init_kernel(LstmForward<T> a) {
  const std::int64_t at = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (at >= a.B * a.H) return;
  const std::int64_t b = at / a.H, j = at % a.H;
  const int T_ = int(a.T_);
  const T h = a.h0 ? a.h0[at] : T(0);
  a.h_last[at] = h;
  a.c_last[at] = a.c0 ? a.c0[at] : T(0);
  const int t_first = step_at(0, T_, a.reverse);
  a.h_in[(b * T_ + t_first) * a.H + j] = a.dropout_mask ? h * a.dropout_mask[at] : h;
  if (j == 0) {
    int s = 0;
    while (s < T_ && a.mask && !a.mask[b * T_ + step_at(s, T_, a.reverse)]) ++s;
    a.first_valid[b] = s;
  }
}

// One forward step at processing position s (time t): the recurrent product for a tile of
// kRows rows × kUnits units (4 gates each), then the fused gate update.
// gates[:, t] (x·W in, activations out), states, y[:, t], c_in[:, t], h_in[:, next step].
template <typename T>
__global__ void __launch_bounds__(kRows * kUnits)
lstm_step_forward_kernel(LstmForward<T> a, int s) {
  __shared__ T hs[kRows][kChunk];           // h_in rows
  __shared__ T us[kChunk][G * kUnits + 1];  // U columns of the block's units, gate-major
  const int H = int(a.H), T_ = int(a.T_), G4H = G * H;
  const int t = step_at(s, T_, a.reverse);
  const int tid = threadIdx.x, jl = tid % kUnits, bl = tid / kUnits;
  const int j0 = blockIdx.x * kUnits, b0 = blockIdx.y * kRows;
  const int j = j0 + jl, b = b0 + bl;

  T acc[G] = {0, 0, 0, 0};
  for (int k0 = 0; k0 < H; k0 += kChunk) {
    for (int idx = tid; idx < kRows * kChunk; idx += kRows * kUnits) {
      const int r = idx / kChunk, kk = idx % kChunk;
      hs[r][kk] = (b0 + r < a.B && k0 + kk < H) ? a.h_in[(std::int64_t(b0 + r) * T_ + t) * H + k0 + kk] : T(0);
    }
    for (int idx = tid; idx < kChunk * G * kUnits; idx += kRows * kUnits) {
      const int kk = idx / (G * kUnits), col = idx % (G * kUnits), g = col / kUnits, u = col % kUnits;
      us[kk][col] = (k0 + kk < H && j0 + u < H) ? a.recurrent_kernel[std::int64_t(k0 + kk) * G4H + g * H + j0 + u] : T(0);
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
  if (b >= a.B || j >= H) return;

  const std::int64_t row = std::int64_t(b) * T_ + t, bj = std::int64_t(b) * H + j;
  T* z = a.gates + row * G4H;
  const T c_prev = a.c_last[bj];
  a.c_in[row * H + j] = c_prev;
  T h;
  if (!a.mask || a.mask[row]) {
    const T* bias = a.bias;
    const T i = sigmoid(z[j] + acc[0] + (bias ? bias[j] : T(0)));
    const T f = sigmoid(z[H + j] + acc[1] + (bias ? bias[H + j] : T(0)));
    const T g = tanh(z[2 * H + j] + acc[2] + (bias ? bias[2 * H + j] : T(0)));
    const T o = sigmoid(z[3 * H + j] + acc[3] + (bias ? bias[3 * H + j] : T(0)));
    const T c = f * c_prev + i * g;
    h = o * tanh(c);
    z[j] = i;
    z[H + j] = f;
    z[2 * H + j] = g;
    z[3 * H + j] = o;
    a.c_last[bj] = c;
    a.h_last[bj] = h;
    a.y[row * H + j] = h;
  } else {  // carry the state; the output repeats the last valid one (zeros before it)
    h = a.h_last[bj];
    for (int g = 0; g < G; ++g) z[g * H + j] = T(0);
    a.y[row * H + j] = (a.zero_output_for_mask || s < a.first_valid[b]) ? T(0) : h;
  }
  if (s + 1 < T_)
    a.h_in[(std::int64_t(b) * T_ + step_at(s + 1, T_, a.reverse)) * H + j] =
        a.dropout_mask ? h * a.dropout_mask[bj] : h;
}

// One backward step at processing position s (time t), or with kFinal the tail that turns the
// first step's dz into dh0. dh0, dc0 hold the running dh, dc (gradients of the state after the
// step). First dh += (dz_{s+1}·Uᵀ)∘m, the gradient reaching h through the next step's recurrent
// input h_in = h∘m (z_{s+1} = ... + h_in·U); then, unless kFinal, dy_t and the gate update.
template <typename T, bool kFinal>
__global__ void __launch_bounds__(kRows * kUnits)
lstm_step_backward_kernel(LstmBackward<T> a, int s) {
  __shared__ T dzs[kRows][kChunk + 1];  // dz_{s+1} rows, a slice of the 4H columns
  __shared__ T us[kUnits][kChunk + 1];  // U rows of the block's units, the same slice
  const int H = int(a.H), T_ = int(a.T_), G4H = G * H;
  const int tid = threadIdx.x, jl = tid % kUnits, bl = tid / kUnits;
  const int j0 = blockIdx.x * kUnits, b0 = blockIdx.y * kRows;
  const int j = j0 + jl, b = b0 + bl;
  const int s_next = kFinal ? 0 : s + 1;  // whose dz feeds this step's dh
  const bool has_next = s_next < T_;
  const int t_next = step_at(s_next, T_, a.reverse);

  T acc = 0;
  if (has_next) {
    for (int c0 = 0; c0 < G4H; c0 += kChunk) {
      for (int idx = tid; idx < kRows * kChunk; idx += kRows * kUnits) {
        const int r = idx / kChunk, cc = idx % kChunk;
        dzs[r][cc] = (b0 + r < a.B && c0 + cc < G4H) ? a.dz[(std::int64_t(b0 + r) * T_ + t_next) * G4H + c0 + cc] : T(0);
      }
      for (int idx = tid; idx < kUnits * kChunk; idx += kRows * kUnits) {
        const int u = idx / kChunk, cc = idx % kChunk;
        us[u][cc] = (j0 + u < H && c0 + cc < G4H) ? a.recurrent_kernel[std::int64_t(j0 + u) * G4H + c0 + cc] : T(0);
      }
      __syncthreads();
#pragma unroll 8
      for (int cc = 0; cc < kChunk; ++cc) acc += dzs[bl][cc] * us[jl][cc];
      __syncthreads();
    }
  }
  if (b >= a.B || j >= H) return;
  const std::int64_t bj = std::int64_t(b) * H + j;
  T dh = a.dh0[bj] + (a.dropout_mask ? acc * a.dropout_mask[bj] : acc);
  if (kFinal) {
    a.dh0[bj] = dh;
    return;
  }
  const int t = step_at(s, T_, a.reverse);
  const std::int64_t row = std::int64_t(b) * T_ + t;
  T* dz = a.dz + row * G4H;
  const bool valid = !a.mask || a.mask[row];
  // y_t = h_t at a valid step; at a masked one the carried h, unless it is zeros
  if (a.dy && (valid || (!a.zero_output_for_mask && s > a.first_valid[b]))) dh += a.dy[row * H + j];
  if (!valid) {
    for (int g = 0; g < G; ++g) dz[g * H + j] = T(0);
    a.dh0[bj] = dh;  // h_t = h_{t-1}, c_t = c_{t-1}: both gradients pass through
    return;
  }
  const T* z = a.gates + row * G4H;
  const T i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j];
  const T c_prev = a.c_in[row * H + j];
  const T tc = tanh(f * c_prev + i * g);        // c_t = f∘c_{t-1} + i∘g
  const T dc = a.dc0[bj] + dh * o * (T(1) - tc * tc);  // h_t = o∘tanh(c_t)
  dz[j] = dc * g * i * (T(1) - i);
  dz[H + j] = dc * c_prev * f * (T(1) - f);
  dz[2 * H + j] = dc * i * (T(1) - g * g);
  dz[3 * H + j] = dh * tc * o * (T(1) - o);
  a.dc0[bj] = dc * f;
  a.dh0[bj] = T(0);  // h_{t-1} reaches the loss only through h_in, i.e. the next launch's product
}

// dh0, dc0 <- dh_T, dc_T (or zeros): the running gradients of the state.
template <typename T>
__global__ void lstm_backward_init_kernel(LstmBackward<T> a) {
  const std::int64_t at = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (at >= a.B * a.H) return;
  a.dh0[at] = a.dh_last ? a.dh_last[at] : T(0);
  a.dc0[at] = a.dc_last ? a.dc_last[at] : T(0);
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

unsigned blocks_for(std::int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

dim3 step_grid(std::int64_t B, std::int64_t H) {
  return dim3(blocks_for(H, kUnits), blocks_for(B, kRows));
}

}  // namespace

template <typename T>
void lstm_forward(const LstmForward<T>& a) {
  const char* op = "lstm_forward";
  const int BT = int(a.B * a.T_), I = int(a.I), G4H = int(G * a.H);
  lstm_init_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a);
  check_launch(op);
  gemm<T>(op, false, false, BT, G4H, I, T(1), a.x, I, a.kernel, G4H, T(0), a.gates, G4H);
  for (int s = 0; s < int(a.T_); ++s) {
    lstm_step_forward_kernel<T><<<step_grid(a.B, a.H), kRows * kUnits>>>(a, s);
    check_launch(op);
  }
}

template <typename T>
void lstm_backward(const LstmBackward<T>& a) {
  const char* op = "lstm_backward";
  const int BT = int(a.B * a.T_), I = int(a.I), H = int(a.H), G4H = int(G * a.H);
  lstm_backward_init_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a);
  check_launch(op);
  for (int s = int(a.T_) - 1; s >= 0; --s) {
    lstm_step_backward_kernel<T, false><<<step_grid(a.B, a.H), kRows * kUnits>>>(a, s);
    check_launch(op);
  }
  lstm_step_backward_kernel<T, true><<<step_grid(a.B, a.H), kRows * kUnits>>>(a, 0);
  check_launch(op);
  gemm<T>(op, false, true, BT, I, G4H, T(1), a.dz, G4H, a.kernel, G4H, T(0), a.dx, I);
  gemm<T>(op, true, false, I, G4H, BT, T(1), a.x, I, a.dz, G4H, T(0), a.dkernel, G4H);
  gemm<T>(op, true, false, H, G4H, BT, T(1), a.h_in, H, a.dz, G4H, T(0), a.drecurrent_kernel, G4H);
  column_sum_kernel<T><<<blocks_for(G4H, 256), 256>>>(a.dbias, a.dz, BT, G4H);
  check_launch(op);
}

template void lstm_forward<float>(const LstmForward<float>&);
template void lstm_forward<double>(const LstmForward<double>&);
template void lstm_backward<float>(const LstmBackward<float>&);
template void lstm_backward<double>(const LstmBackward<double>&);

}  // namespace pyseq::cuda
