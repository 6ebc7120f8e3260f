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
  const int H = int(a.H), T_ = int(a.T_);
  const int t = step_at(s, T_, a.reverse);
  T acc[1] = {0};
  product_forward<T, 1>(acc, a.h_in + std::int64_t(t) * H, std::int64_t(T_) * H, a.recurrent_kernel, a.B, H);
  const int j = blockIdx.x * kUnits + threadIdx.x % kUnits, b = blockIdx.y * kRows + threadIdx.x / kUnits;
  if (b >= a.B || j >= H) return;
  rnn_forward_cell(a, s, b, j, acc);
}

template <typename T, bool kFinal>
__global__ void __launch_bounds__(kThreads) rnn_step_backward_kernel(RnnBackward<T> a, int s) {
  const int H = int(a.H), T_ = int(a.T_);
  const int s_next = kFinal ? 0 : s + 1;
  T acc = 0;
  if (s_next < T_)
    acc = product_backward<T>(a.dz + std::int64_t(step_at(s_next, T_, a.reverse)) * H,
                              std::int64_t(T_) * H, a.recurrent_kernel, a.B, H, H);
  const int j = blockIdx.x * kUnits + threadIdx.x % kUnits, b = blockIdx.y * kRows + threadIdx.x / kUnits;
  if (b >= a.B || j >= H) return;
  rnn_backward_cell<T, kFinal>(a, s, b, j, acc);
}

}  // namespace

template <typename T>
void rnn_forward(const RnnForward<T>& a) {
  const char* op = "rnn_forward";
  const int BT = int(a.B * a.T_), I = int(a.I), H = int(a.H);
  init_states_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(
      a.h_last, nullptr, a.h_in, a.first_valid, a.h0, nullptr, a.mask, a.dropout_mask, a.B,
      int(a.T_), a.H, a.reverse);
  check_launch(op);
  gemm<T>(op, false, false, BT, H, I, T(1), a.x, I, a.kernel, H, T(0), a.act, H);
  for (int s = 0; s < int(a.T_); ++s) {
    rnn_step_forward_kernel<T><<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
}

template <typename T>
void rnn_backward(const RnnBackward<T>& a) {
  const char* op = "rnn_backward";
  const int BT = int(a.B * a.T_), I = int(a.I), H = int(a.H);
  copy_or_zero_kernel<T><<<blocks_for(a.B * a.H, 256), 256>>>(a.dh0, a.dh_last, a.B * a.H);
  check_launch(op);
  for (int s = int(a.T_) - 1; s >= 0; --s) {
    rnn_step_backward_kernel<T, false><<<step_grid(a.B, a.H), kThreads>>>(a, s);
    check_launch(op);
  }
  rnn_step_backward_kernel<T, true><<<step_grid(a.B, a.H), kThreads>>>(a, 0);
  check_launch(op);
  gemm<T>(op, false, true, BT, I, H, T(1), a.dz, H, a.kernel, H, T(0), a.dx, I);
  gemm<T>(op, true, false, I, H, BT, T(1), a.x, I, a.dz, H, T(0), a.dkernel, H);
  gemm<T>(op, true, false, H, H, BT, T(1), a.h_in, H, a.dz, H, T(0), a.drecurrent_kernel, H);
  column_sum_kernel<T><<<blocks_for(H, 256), 256>>>(a.dbias, a.dz, BT, H);
  check_launch(op);
}

template void rnn_forward<float>(const RnnForward<float>&);
template void rnn_forward<double>(const RnnForward<double>&);
template void rnn_backward<float>(const RnnBackward<float>&);
template void rnn_backward<double>(const RnnBackward<double>&);

}  // namespace pyseq::cuda
