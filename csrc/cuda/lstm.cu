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
  T acc[G] = {0, 0, 0, 0};
  step_product_forward(acc, a, s);
  int b, j;
  if (step_thread(a.B, int(a.H), &b, &j)) lstm_forward_cell(a, s, b, j, acc);
}

// One backward step at processing position s (time t), or with kFinal the tail that turns the
// first step's dz into dh0. dh0, dc0 hold the running dh, dc (gradients of the state after the
// step). First dh += (dz_{s+1}·Uᵀ)∘m, the gradient reaching h through the next step's recurrent
// input h_in = h∘m; then, unless kFinal, dy_t and the gate gradients.
template <typename T, bool kFinal>
__global__ void __launch_bounds__(kThreads) lstm_step_backward_kernel(LstmBackward<T> a, int s) {
  const T acc = step_product_backward<T, G, kFinal>(a, a.dz, s);  // the next position's dz feeds dh
  int b, j;
  if (step_thread(a.B, int(a.H), &b, &j)) lstm_backward_cell<T, kFinal>(a, s, b, j, acc);
}

}  // namespace

template <typename T>
void lstm_forward(const LstmForward<T>& a) {
  const char* op = "lstm_forward";
  forward_setup<T>(op, a, int(G * a.H), a.gates, a.c_last, a.c0);
  forward_steps(op, a, lstm_step_forward_kernel<T>);
}

template <typename T>
void lstm_backward(const LstmBackward<T>& a) {
  const char* op = "lstm_backward";
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dh0, a.dh_last, a.B * a.H);
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dc0, a.dc_last, a.B * a.H);
  check_launch(op);
  backward_steps(op, a, lstm_step_backward_kernel<T, false>, lstm_step_backward_kernel<T, true>);
  weight_gradients<T>(op, a, int(G * a.H), a.dz, a.dz);
}

template void lstm_forward<float>(const LstmForward<float>&);
template void lstm_forward<double>(const LstmForward<double>&);
template void lstm_backward<float>(const LstmBackward<float>&);
template void lstm_backward<double>(const LstmBackward<double>&);

}  // namespace pyseq::cuda
