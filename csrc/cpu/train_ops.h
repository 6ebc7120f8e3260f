// Training-path kernels of the layers and models: embedding lookup and its gradient, and the
// fused Adam update (Keras 3 arithmetic). Memory-bound loops, compiled once (no ISA variants).
// Legend: V table rows (vocabulary), D embedding size, N looked-up indices, n elements;
// M rows, K input features, U units (Dense).
#pragma once

#include <cstdint>

namespace pyseq::cpu {

// out[r, :] = table[idx[r], :]              out (N,D), table (V,D), idx (N,) in [0, V)
template <typename T, typename I>
void embedding_forward(T* out, const T* table, const I* idx, std::int64_t N, std::int64_t D);

// dtable = 0; dtable[idx[r], :] += dout[r, :]  dtable (V,D), dout (N,D); threads split columns
template <typename T, typename I>
void embedding_backward(T* dtable, const T* dout, const I* idx, std::int64_t N, std::int64_t V,
                        std::int64_t D);

// In place, element-wise over n, as keras.optimizers.Adam.update_step:
//   m += (g - m) * (1 - beta_1);  v += (g*g - v) * (1 - beta_2)
//   v_hat = max(v_hat, v) if v_hat (amsgrad), then var -= alpha * m / (sqrt(v or v_hat) + eps)
// beta_1 and beta_2 come in double so that 1 - beta is rounded once, as Keras's Python floats.
template <typename T>
void adam_update(T* var, T* m, T* v, T* v_hat, const T* g, std::int64_t n, T alpha,
                 double beta_1, double beta_2, T epsilon);

// y (M,U) = x (M,K) @ w (K,U) + b (U,) (b may be null); rows split across pyseq's team, each
// thread one serial BLAS call (no second thread pool beside the team: see threads.h).
template <typename T>
void dense_forward(T* y, const T* x, const T* w, const T* b, std::int64_t M, std::int64_t K,
                   std::int64_t U);

// Backward of "y = x @ w + b": dx (M,K) = dz @ w^T, dw (K,U) = x^T @ dz, db (U,) = sum_rows dz
// (db may be null); dx split by rows, dw by its rows (K), db by columns.
template <typename T>
void dense_backward(T* dx, T* dw, T* db, const T* dz, const T* x, const T* w, std::int64_t M,
                    std::int64_t K, std::int64_t U);

}  // namespace pyseq::cpu
