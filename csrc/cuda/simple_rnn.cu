// SimpleRNN over a whole sequence on the GPU, forward and backward: h_t = act(x_t·W + b + h_in·U)
// with h_in = h_{t-1}∘m (the semantics of csrc/cpu/simple_rnn.h and docs/rnn_contract.md).
// Legend: B batch, T steps, I input features, H hidden units.
//
// Forward:  x·W for all B·T rows in one cuBLAS product; per step one fused kernel (recurrent
//           product, bias, activation, masks). Backward: per step dh_t += (dz_{next}·Uᵀ)∘m and
//           dz_t = dh_t∘act'(h_t); afterwards dx, dW, dU on cuBLAS and db as column sums.
#include <cuda_runtime.h>

#include "cuda_ops.h"
#include "gemm.h"
#include "rnn_cells.cuh"
#include "rnn_common.cuh"

namespace pyseq::cuda {

namespace {

using namespace rnn;

template <typename T>
__global__ void __launch_bounds__(kThreads) rnn_step_forward_kernel(RnnForward<T> a, int s) {
  T acc[1] = {0};
  step_product_forward(acc, a, s);
  int b, j;
  if (step_thread(a.B, int(a.H), &b, &j)) rnn_forward_cell(a, s, b, j, acc);
}

template <typename T, bool kFinal>
__global__ void __launch_bounds__(kThreads) rnn_step_backward_kernel(RnnBackward<T> a, int s) {
  const T acc = step_product_backward<T, 1, kFinal>(a, a.dz, s);
  int b, j;
  if (step_thread(a.B, int(a.H), &b, &j)) rnn_backward_cell<T, kFinal>(a, s, b, j, acc);
}

}  // namespace

template <typename T>
void rnn_forward(const RnnForward<T>& a) {
  const char* op = "rnn_forward";
  forward_setup<T>(op, a, int(a.H), a.act, nullptr, nullptr);
  forward_steps(op, a, rnn_step_forward_kernel<T>);
}

template <typename T>
void rnn_backward(const RnnBackward<T>& a) {
  const char* op = "rnn_backward";
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dh0, a.dh_last, a.B * a.H);
  check_launch(op);
  backward_steps(op, a, rnn_step_backward_kernel<T, false>, rnn_step_backward_kernel<T, true>);
  weight_gradients<T>(op, a, int(a.H), a.dz, a.dz);
}

template void rnn_forward<float>(const RnnForward<float>&);
template void rnn_forward<double>(const RnnForward<double>&);
template void rnn_backward<float>(const RnnBackward<float>&);
template void rnn_backward<double>(const RnnBackward<double>&);

}  // namespace pyseq::cuda
