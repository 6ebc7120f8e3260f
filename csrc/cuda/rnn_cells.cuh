// The per-(row, unit) updates of the recurrent families' step kernels (lstm.cu, gru.cu,
// simple_rnn.cu), for host and device: each step kernel computes its recurrent product in shared
// memory and then calls one of these; tests/cuda_rnn_check.cu runs the same functions on the host,
// with plain loops for the products, against the float64 reference (no GPU needed).
// Legend: B batch, T steps, H hidden units; s the processing position, t = step_at(s) the step.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda_ops.h"

namespace pyseq::cuda {

// The time step processed at position s (reverse = Keras go_backwards).
__host__ __device__ inline int step_at(int s, int T_, bool reverse) { return reverse ? T_ - 1 - s : s; }

// Whether step s of row b adds dy into the state gradient: y_t is h_t at a valid step, the
// carried h at a masked one after the row's first valid step, else zeros.
__host__ __device__ inline bool output_reads_state(bool valid, bool zero_output_for_mask, int s,
                                                   std::int32_t first_valid) {
  return valid || (!zero_output_for_mask && s > first_valid);
}

// The row of (B,T) that processing position s of row b reads; A: any of the step argument structs.
template <typename A>
__host__ __device__ inline std::int64_t row_at(const A& a, int s, int b) {
  return std::int64_t(b) * a.T_ + step_at(s, int(a.T_), a.reverse);
}

// y_t at a masked step: the carried state h after the row's first valid step, else zeros.
template <typename A, typename T>
__host__ __device__ inline T masked_output(const A& a, int s, int b, T h) {
  return (a.zero_output_for_mask || s < a.first_valid[b]) ? T(0) : h;
}

// Forward tail shared by the cells: h_t becomes the next position's recurrent input h_in (through
// the dropout mask).
template <typename A, typename T>
__host__ __device__ inline void pass_state(const A& a, int s, int b, int j, T h) {
  if (s + 1 < int(a.T_))
    a.h_in[row_at(a, s + 1, b) * a.H + j] = a.dropout_mask ? h * a.dropout_mask[std::int64_t(b) * a.H + j] : h;
}

// Backward head shared by the cells: the gradient reaching h_t, i.e. dh0 (the direct path) plus acc
// (the path through h_in, via the dropout mask).
template <typename A, typename T>
__host__ __device__ inline T carried_dh(const A& a, std::int64_t bj, T acc) {
  return a.dh0[bj] + (a.dropout_mask ? acc * a.dropout_mask[bj] : acc);
}

// dh plus dy_t where y_t reads the state (see output_reads_state).
template <typename A, typename T>
__host__ __device__ inline T add_output_grad(const A& a, int s, int b, int j, std::int64_t row, bool valid, T dh) {
  return a.dy && output_reads_state(valid, a.zero_output_for_mask, s, a.first_valid[b]) ? dh + a.dy[row * a.H + j]
                                                                                        : dh;
}

// State set-up for element at = (b, j) of (B,H): h_state, c_state (nullable) <- h0, c0 (or zeros);
// h_in[:, first step] = h0∘m; the j = 0 element also finds the row's first valid step (T if none).
template <typename T>
__host__ __device__ inline void init_state_at(std::int64_t at, T* h_state, T* c_state, T* h_in,
                                              std::int32_t* first_valid, const T* h0, const T* c0,
                                              const std::uint8_t* mask, const T* dropout, int T_,
                                              std::int64_t H, bool reverse) {
  const std::int64_t b = at / H, j = at % H;
  const T h = h0 ? h0[at] : T(0);
  h_state[at] = h;
  if (c_state) c_state[at] = c0 ? c0[at] : T(0);
  h_in[(b * T_ + step_at(0, T_, reverse)) * H + j] = dropout ? h * dropout[at] : h;
  if (j == 0) {
    int s = 0;
    while (s < T_ && mask && !mask[b * T_ + step_at(s, T_, reverse)]) ++s;
    first_valid[b] = s;
  }
}

template <typename T> __host__ __device__ inline T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }

template <typename T>
__host__ __device__ inline T activate(RnnActivation f, T z) {
  switch (f) {
    case RnnActivation::tanh: return tanh(z);
    case RnnActivation::relu: return z > T(0) ? z : T(0);
    case RnnActivation::sigmoid: return sigmoid(z);
    default: return z;
  }
}

// act'(z) written with the output h = act(z).
template <typename T>
__host__ __device__ inline T derivative(RnnActivation f, T h) {
  switch (f) {
    case RnnActivation::tanh: return T(1) - h * h;
    case RnnActivation::relu: return h > T(0) ? T(1) : T(0);
    case RnnActivation::sigmoid: return h * (T(1) - h);
    default: return T(1);
  }
}

// The fused update of one LSTM step for (b, j) at processing position s, after the recurrent
// product acc[g] = (h_in·U)[b, g·H + j]: activations, cell and hidden state, masks, y, c_in and the
// next step's h_in.
template <typename T>
__host__ __device__ inline void lstm_forward_cell(const LstmForward<T>& a, int s, int b, int j, const T (&acc)[4]) {
  constexpr int G = 4;
  const int H = int(a.H), G4H = G * H;
  const std::int64_t row = row_at(a, s, b), bj = std::int64_t(b) * H + j;
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
    a.y[row * H + j] = masked_output(a, s, b, h);
  }
  pass_state(a, s, b, j, h);
}

// One LSTM backward step for (b, j) at processing position s (kFinal: the tail giving dh0), after
// the recurrent product acc = (dz_{s+1}·Uᵀ)[b, j].
template <typename T, bool kFinal>
__host__ __device__ inline void lstm_backward_cell(const LstmBackward<T>& a, int s, int b, int j, T acc) {
  constexpr int G = 4;
  const int H = int(a.H), G4H = G * H;
  const std::int64_t bj = std::int64_t(b) * H + j;
  T dh = carried_dh(a, bj, acc);
  if (kFinal) {
    a.dh0[bj] = dh;
    return;
  }
  const std::int64_t row = row_at(a, s, b);
  T* dz = a.dz + row * G4H;
  const bool valid = !a.mask || a.mask[row];
  dh = add_output_grad(a, s, b, j, row, valid, dh);
  if (!valid) {
    for (int g = 0; g < G; ++g) dz[g * H + j] = T(0);
    a.dh0[bj] = dh;  // h_t = h_{t-1}, c_t = c_{t-1}: both gradients pass through
    return;
  }
  const T* z = a.gates + row * G4H;
  const T i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j];
  const T c_prev = a.c_in[row * H + j];
  const T tc = tanh(f * c_prev + i * g);               // c_t = f∘c_{t-1} + i∘g
  const T dc = a.dc0[bj] + dh * o * (T(1) - tc * tc);  // h_t = o∘tanh(c_t)
  dz[j] = dc * g * i * (T(1) - i);
  dz[H + j] = dc * c_prev * f * (T(1) - f);
  dz[2 * H + j] = dc * i * (T(1) - g * g);
  dz[3 * H + j] = dh * tc * o * (T(1) - o);
  a.dc0[bj] = dc * f;
  a.dh0[bj] = T(0);  // h_{t-1} reaches the loss only through h_in, i.e. the next launch's product
}

// The fused update of one GRU step (reset_after=True) for (b, j) at processing position s, after
// the recurrent product acc[g] = (h_in·U)[b, g·H + j].
template <typename T>
__host__ __device__ inline void gru_forward_cell(const GruForward<T>& a, int s, int b, int j, const T (&acc)[3]) {
  constexpr int G = 3;
  const int H = int(a.H), G3H = G * H;
  const std::int64_t row = row_at(a, s, b), bj = std::int64_t(b) * H + j;
  T* gate = a.gates + row * G3H;  // x·W in, activations out
  const T h_prev = a.h_last[bj];
  a.h_prev[row * H + j] = h_prev;
  T h;
  if (!a.mask || a.mask[row]) {
    const T* bx = a.bias;
    const T* bh = a.bias ? a.bias + G3H : nullptr;
    auto b_of = [&](const T* bias, int g) { return bias ? bias[g * H + j] : T(0); };
    const T an = acc[2] + b_of(bh, 2);
    const T z = sigmoid(gate[j] + b_of(bx, 0) + acc[0] + b_of(bh, 0));
    const T r = sigmoid(gate[H + j] + b_of(bx, 1) + acc[1] + b_of(bh, 1));
    const T n = tanh(gate[2 * H + j] + b_of(bx, 2) + r * an);
    h = z * h_prev + (T(1) - z) * n;
    gate[j] = z;
    gate[H + j] = r;
    gate[2 * H + j] = n;
    a.hn[row * H + j] = an;
    a.h_last[bj] = h;
    a.y[row * H + j] = h;
  } else {  // carry the state; the output repeats the last valid one (zeros before it)
    h = h_prev;
    for (int g = 0; g < G; ++g) gate[g * H + j] = T(0);
    a.hn[row * H + j] = T(0);
    a.y[row * H + j] = masked_output(a, s, b, h);
  }
  pass_state(a, s, b, j, h);
}

// One GRU backward step for (b, j) at processing position s (kFinal: the tail giving dh0), after
// the recurrent product acc = (da_{s+1}·Uᵀ)[b, j].
template <typename T, bool kFinal>
__host__ __device__ inline void gru_backward_cell(const GruBackward<T>& a, int s, int b, int j, T acc) {
  constexpr int G = 3;
  const int H = int(a.H), G3H = G * H;
  const std::int64_t bj = std::int64_t(b) * H + j;
  T dh = carried_dh(a, bj, acc);
  if (kFinal) {
    a.dh0[bj] = dh;
    return;
  }
  const std::int64_t row = row_at(a, s, b);
  T* dgx = a.dgx + row * G3H;
  T* da = a.da + row * G3H;
  const bool valid = !a.mask || a.mask[row];
  dh = add_output_grad(a, s, b, j, row, valid, dh);
  if (!valid) {
    for (int g = 0; g < G; ++g) dgx[g * H + j] = da[g * H + j] = T(0);
    a.dh0[bj] = dh;  // h_t = h_{t-1}
    return;
  }
  const T* gate = a.gates + row * G3H;
  const T z = gate[j], r = gate[H + j], n = gate[2 * H + j];
  const T an = a.hn[row * H + j], h_prev = a.h_prev[row * H + j];
  // h_t = z∘h_{t-1} + (1-z)∘n
  const T dz = dh * (h_prev - n) * z * (T(1) - z);
  const T dn = dh * (T(1) - z) * (T(1) - n * n);  // n = tanh(gx_n + r∘a_n)
  const T dr = dn * an * r * (T(1) - r);
  dgx[j] = da[j] = dz;
  dgx[H + j] = da[H + j] = dr;
  dgx[2 * H + j] = dn;
  da[2 * H + j] = dn * r;
  a.dh0[bj] = dh * z;  // the direct path; the one through h_in comes with the next launch
}

// The fused update of one SimpleRNN step for (b, j) at processing position s, after the recurrent
// product acc[0] = (h_in·U)[b, j].
template <typename T>
__host__ __device__ inline void rnn_forward_cell(const RnnForward<T>& a, int s, int b, int j, const T (&acc)[1]) {
  const int H = int(a.H);
  const std::int64_t row = row_at(a, s, b), bj = std::int64_t(b) * H + j;
  T h;
  if (!a.mask || a.mask[row]) {
    h = activate(a.activation, a.act[row * H + j] + acc[0] + (a.bias ? a.bias[j] : T(0)));
    a.act[row * H + j] = h;
    a.h_last[bj] = h;
    a.y[row * H + j] = h;
  } else {
    h = a.h_last[bj];
    a.act[row * H + j] = T(0);
    a.y[row * H + j] = masked_output(a, s, b, h);
  }
  pass_state(a, s, b, j, h);
}

// One SimpleRNN backward step for (b, j) at processing position s (kFinal: the tail giving dh0),
// after the recurrent product acc = (dz_{s+1}·Uᵀ)[b, j].
template <typename T, bool kFinal>
__host__ __device__ inline void rnn_backward_cell(const RnnBackward<T>& a, int s, int b, int j, T acc) {
  const int H = int(a.H);
  const std::int64_t bj = std::int64_t(b) * H + j;
  T dh = carried_dh(a, bj, acc);
  if (kFinal) {
    a.dh0[bj] = dh;
    return;
  }
  const std::int64_t row = row_at(a, s, b);
  const bool valid = !a.mask || a.mask[row];
  dh = add_output_grad(a, s, b, j, row, valid, dh);
  if (!valid) {
    a.dz[row * H + j] = T(0);
    a.dh0[bj] = dh;
    return;
  }
  a.dz[row * H + j] = dh * derivative(a.activation, a.act[row * H + j]);
  a.dh0[bj] = T(0);  // h_{t-1} reaches the loss only through h_in (the next launch's product)
}

}  // namespace pyseq::cuda
