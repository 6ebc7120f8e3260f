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
  T acc[G] = {0, 0, 0};
  step_product_forward(acc, a, s);
  int b, j;
  if (step_thread(a.B, int(a.H), &b, &j)) gru_forward_cell(a, s, b, j, acc);
}

// One backward step at processing position s, or with kFinal the tail giving dh0. dh0 holds the
// running gradient of the state after the step. dh += (da_{s+1}·Uᵀ)∘m (the next step's
// a = h_in·U + b_h with h_in = h∘m); then dy_t and the gate gradients.
template <typename T, bool kFinal>
__global__ void __launch_bounds__(kThreads) gru_step_backward_kernel(GruBackward<T> a, int s) {
  const T acc = step_product_backward<T, G, kFinal>(a, a.da, s);
  int b, j;
  if (step_thread(a.B, int(a.H), &b, &j)) gru_backward_cell<T, kFinal>(a, s, b, j, acc);
}

}  // namespace

template <typename T>
void gru_forward(const GruForward<T>& a) {
  const char* op = "gru_forward";
  forward_setup<T>(op, a, int(G * a.H), a.gates, nullptr, nullptr);
  forward_steps(op, a, gru_step_forward_kernel<T>);
}

template <typename T>
void gru_backward(const GruBackward<T>& a) {
  const char* op = "gru_backward";
  const int BT = int(a.B * a.T_), G3H = int(G * a.H);
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dh0, a.dh_last, a.B * a.H);
  check_launch(op);
  backward_steps(op, a, gru_step_backward_kernel<T, false>, gru_step_backward_kernel<T, true>);
  weight_gradients<T>(op, a, G3H, a.dgx, a.da);
  column_sum_kernel<T><<<blocks_for(G3H, 256), 256>>>(a.dbias + G3H, a.da, BT, G3H);  // b_h's row
  check_launch(op);
}

template void gru_forward<float>(const GruForward<float>&);
template void gru_forward<double>(const GruForward<double>&);
template void gru_backward<float>(const GruBackward<float>&);
template void gru_backward<double>(const GruBackward<double>&);

}  // namespace pyseq::cuda
