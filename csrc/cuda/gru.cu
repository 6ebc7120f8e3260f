// GRU over a whole sequence on the GPU, forward and backward, reset_after=True (Keras's default,
// cuDNN's "linear before reset"); the semantics of csrc/cpu/gru.h and docs/gru_contract.md.
// Gate order z, r, n. Legend: B batch, T steps, I input features, H hidden units.
//
// Forward:  gx = x·W for all B·T rows in one cuBLAS product; per step one fused kernel:
//           a = h_in·U + b_h (one product for all three gates), z = σ(gx_z + b_xz + a_z),
//           r = σ(gx_r + b_xr + a_r), n = tanh(gx_n + b_xn + r∘a_n), h_t = z∘h_{t-1} + (1-z)∘n.
// Backward: per step one fused kernel: dh_t += (da_{next}·Uᵀ)∘m, then dgx_t and da_t; afterwards
//           dx = dgx·Wᵀ, dW = xᵀ·dgx, dU = h_inᵀ·da, db = column sums of [dgx; da].
#include <cuda_runtime.h>

#include "cuda_ops.h"
#include "gemm.h"
#include "rnn_cells.cuh"
#include "rnn_common.cuh"

namespace pyseq::cuda {

namespace {

using namespace rnn;
constexpr int G = 3;  // gates per unit

// One forward step at processing position s (time t) for the block's rows and units.
template <typename T>
__global__ void __launch_bounds__(kThreads) gru_step_forward_kernel(GruForward<T> a, int s) {
  const int H = int(a.H), T_ = int(a.T_);
  const int t = step_at(s, T_, a.reverse);
  T acc[G] = {0, 0, 0};
  product_forward<T, G>(acc, a.h_in + std::int64_t(t) * H, std::int64_t(T_) * H, a.recurrent_kernel, a.B, H);
  const int j = blockIdx.x * kUnits + threadIdx.x % kUnits, b = blockIdx.y * kRows + threadIdx.x / kUnits;
  if (b >= a.B || j >= H) return;
  gru_forward_cell(a, s, b, j, acc);
}

// One backward step at processing position s, or with kFinal the tail giving dh0. dh0 holds the
// running gradient of the state after the step. dh += (da_{s+1}·Uᵀ)∘m (the next step's
// a = h_in·U + b_h with h_in = h∘m); then dy_t and the gate gradients.
template <typename T, bool kFinal>
__global__ void __launch_bounds__(kThreads) gru_step_backward_kernel(GruBackward<T> a, int s) {
  const int H = int(a.H), T_ = int(a.T_), G3H = G * H;
  const int s_next = kFinal ? 0 : s + 1;
  T acc = 0;
  if (s_next < T_)
    acc = product_backward<T>(a.da + std::int64_t(step_at(s_next, T_, a.reverse)) * G3H,
                              std::int64_t(T_) * G3H, a.recurrent_kernel, a.B, H, G3H);
  const int j = blockIdx.x * kUnits + threadIdx.x % kUnits, b = blockIdx.y * kRows + threadIdx.x / kUnits;
  if (b >= a.B || j >= H) return;
  gru_backward_cell<T, kFinal>(a, s, b, j, acc);
}

}  // namespace

template <typename T>
void gru_forward(const GruForward<T>& a) {
  const char* op = "gru_forward";
  const int BT = int(a.B * a.T_), I = int(a.I), G3H = int(G * a.H);
  init_states_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(
      a.h_last, nullptr, a.h_in, a.first_valid, a.h0, nullptr, a.mask, a.dropout_mask, a.B,
      int(a.T_), a.H, a.reverse);
  check_launch(op);
  gemm<T>(op, false, false, BT, G3H, I, T(1), a.x, I, a.kernel, G3H, T(0), a.gates, G3H);
  for (int s = 0; s < int(a.T_); ++s) {
    gru_step_forward_kernel<T><<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
}

template <typename T>
void gru_backward(const GruBackward<T>& a) {
  const char* op = "gru_backward";
  const int BT = int(a.B * a.T_), I = int(a.I), H = int(a.H), G3H = int(G * a.H);
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dh0, a.dh_last, a.B * a.H);
  check_launch(op);
  for (int s = int(a.T_) - 1; s >= 0; --s) {
    gru_step_backward_kernel<T, false><<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
  gru_step_backward_kernel<T, true><<<step_grid(a.B, a.H), kThreads>>>(a, 0);
  check_launch(op);
  gemm<T>(op, false, true, BT, I, G3H, T(1), a.dgx, G3H, a.kernel, G3H, T(0), a.dx, I);
  gemm<T>(op, true, false, I, G3H, BT, T(1), a.x, I, a.dgx, G3H, T(0), a.dkernel, G3H);
  gemm<T>(op, true, false, H, G3H, BT, T(1), a.h_in, H, a.da, G3H, T(0), a.drecurrent_kernel, G3H);
  column_sum_kernel<T><<<blocks_for(G3H, 256), 256>>>(a.dbias, a.dgx, BT, G3H);
  column_sum_kernel<T><<<blocks_for(G3H, 256), 256>>>(a.dbias + G3H, a.da, BT, G3H);
  check_launch(op);
}

template void gru_forward<float>(const GruForward<float>&);
template void gru_forward<double>(const GruForward<double>&);
template void gru_backward<float>(const GruBackward<float>&);
template void gru_backward<double>(const GruBackward<double>&);

}  // namespace pyseq::cuda
