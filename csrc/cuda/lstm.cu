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
#include "rnn_cells.cuh"
#include "rnn_common.cuh"

namespace pyseq::cuda {

namespace {

using namespace rnn;
constexpr int G = 4;  // gates per unit

// One forward step at processing position s (time t): z = gates_t (x·W) + h_in·U + b for the
// block's rows and units, then the fused update. Writes gates[:, t] (activations; zeros at masked
// steps), the states, y[:, t], c_in[:, t] and h_in[:, next step].
template <typename T>
__global__ void __launch_bounds__(kThreads) lstm_step_forward_kernel(LstmForward<T> a, int s) {
  const int H = int(a.H), T_ = int(a.T_);
  const int t = step_at(s, T_, a.reverse);
  T acc[G] = {0, 0, 0, 0};
  product_forward<T, G>(acc, a.h_in + std::int64_t(t) * H, std::int64_t(T_) * H, a.recurrent_kernel, a.B, H);
  const int j = blockIdx.x * kUnits + threadIdx.x % kUnits, b = blockIdx.y * kRows + threadIdx.x / kUnits;
  if (b >= a.B || j >= H) return;
  lstm_forward_cell(a, s, b, j, acc);
}

// One backward step at processing position s (time t), or with kFinal the tail that turns the
// first step's dz into dh0. dh0, dc0 hold the running dh, dc (gradients of the state after the
// step). First dh += (dz_{s+1}·Uᵀ)∘m, the gradient reaching h through the next step's recurrent
// input h_in = h∘m; then, unless kFinal, dy_t and the gate gradients.
template <typename T, bool kFinal>
__global__ void __launch_bounds__(kThreads) lstm_step_backward_kernel(LstmBackward<T> a, int s) {
  const int H = int(a.H), T_ = int(a.T_), G4H = G * H;
  const int s_next = kFinal ? 0 : s + 1;  // whose dz feeds this step's dh
  T acc = 0;
  if (s_next < T_)
    acc = product_backward<T>(a.dz + std::int64_t(step_at(s_next, T_, a.reverse)) * G4H,
                              std::int64_t(T_) * G4H, a.recurrent_kernel, a.B, H, G4H);
  const int j = blockIdx.x * kUnits + threadIdx.x % kUnits, b = blockIdx.y * kRows + threadIdx.x / kUnits;
  if (b >= a.B || j >= H) return;
  lstm_backward_cell<T, kFinal>(a, s, b, j, acc);
}

}  // namespace

template <typename T>
void lstm_forward(const LstmForward<T>& a) {
  const char* op = "lstm_forward";
  const int BT = int(a.B * a.T_), I = int(a.I), G4H = int(G * a.H);
  init_states_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(
      a.h_last, a.c_last, a.h_in, a.first_valid, a.h0, a.c0, a.mask, a.dropout_mask, a.B,
      int(a.T_), a.H, a.reverse);
  check_launch(op);
  gemm<T>(op, false, false, BT, G4H, I, T(1), a.x, I, a.kernel, G4H, T(0), a.gates, G4H);
  for (int s = 0; s < int(a.T_); ++s) {
    lstm_step_forward_kernel<T><<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
}

template <typename T>
void lstm_backward(const LstmBackward<T>& a) {
  const char* op = "lstm_backward";
  const int BT = int(a.B * a.T_), I = int(a.I), H = int(a.H), G4H = int(G * a.H);
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dh0, a.dh_last, a.B * a.H);
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dc0, a.dc_last, a.B * a.H);
  check_launch(op);
  for (int s = int(a.T_) - 1; s >= 0; --s) {
    lstm_step_backward_kernel<T, false><<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
  lstm_step_backward_kernel<T, true><<<step_grid(a.B, a.H), kThreads>>>(a, 0);
  check_launch(op);
  // dx = dz·Wᵀ, dW = xᵀ·dz, dU = h_inᵀ·dz, db = Σ_rows dz: products over all steps at once
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
