// GRU over a whole sequence, forward and backward (Keras layout, gate order z, r, h), in both
// of Keras's forms: reset_after (PyTorch's "linear before reset", one recurrent product per step
// for all three gates) and reset before the product.
// Legend: B batch, T steps, I input features, H hidden units.
#pragma once

#include <cstdint>

#include "isa.h"

namespace pyseq::cpu {

// As for the LSTM (lstm.h), gate columns are grouped by unit chunk so that each thread's gates
// are contiguous: chunk k, holding units [u0, u1), occupies columns [3*u0, 3*u1) as
// [z(u0..u1) r(..) h(..)]. One chunk = Keras's order. Backward reads the chunk count from forward.
//
// xh rows (the saved inputs of the step's products, for backward's products over all steps):
//   reset_after:  [x_t | 1 | h_in | 1]      I + H + 2 columns  ([dW; db_x] and [dU; db_h])
//   otherwise:    [x_t | 1 | h_in | r∘h_in] I + 1 + 2H columns ([dW; db], dU_zr, dU_h)
// with h_in = h_{t-1} ∘ recurrent_dropout_mask.
template <typename T>
struct GruForward {
  // outputs
  T* y;          // (B,T,H) in input order
  T* h_last;     // (B,H)
  // saved for backward
  T* gates;      // (B,T,3H) post-activation z, r, candidate; chunked column order
  T* xh;         // (B,T,XH) see above
  T* hn;         // (B,T,H) reset_after only: h_in·U_h + b_hh (what r multiplies); else unused
  T* h_prev;     // (B,T,H) with a dropout mask only: h_{t-1} (h_in is not it); else unused
  int* unit_chunks;  // out: number of unit chunks used for the gate layout
  // inputs (all C-contiguous; the nullable ones mean zeros / all valid / no dropout)
  const T* x;                 // (B,T,I), or null with token inputs
  // Token inputs (token_inputs.h): x_t = table[ids[b,t]], never formed; xh then has no x
  // columns (XI = 0 in place of I above)
  const std::int64_t* ids;    // (B,T) in [0,V), or null for x
  const T* table;             // (V,I) with ids
  std::int64_t V;
  const T* kernel;            // (I,3H)
  const T* recurrent_kernel;  // (H,3H)
  const T* bias;              // (2,3H) if reset_after else (3H,); or null
  const T* h0;                // (B,H) or null
  const std::uint8_t* mask;   // (B,T) or null, nonzero = valid
  const T* dropout_mask;      // (B,H) or null
  // sizes and options
  std::int64_t B, T_, I, H;
  bool reset_after, reverse, zero_output_for_mask;
};

template <typename T>
struct GruBackward {
  // outputs (gradients of the forward inputs)
  T* dx;                 // (B,T,I), or null with token inputs
  T* dtable;             // (V,I) with token inputs, else null
  T* dkernel;            // (I,3H)
  T* drecurrent_kernel;  // (H,3H)
  T* dbias;              // (2,3H) if reset_after else (3H,)
  T* dh0;                // (B,H)
  // upstream gradients, nullable = zeros
  const T* dy;       // (B,T,H)
  const T* dh_last;  // (B,H)
  // saved by forward
  const T* gates; const T* xh; const T* hn; const T* h_prev; int unit_chunks;
  const T* kernel; const T* recurrent_kernel;
  const std::uint8_t* mask; const T* dropout_mask;
  const std::int64_t* ids; const T* table; std::int64_t V;  // token inputs, as in forward
  std::int64_t B, T_, I, H;
  bool reset_after, reverse, zero_output_for_mask;
};

// Columns of a saved xh row (see above).
inline std::int64_t gru_xh_columns(std::int64_t I, std::int64_t H, bool reset_after) {
  return reset_after ? I + H + 2 : I + 1 + 2 * H;
}

// y (B,T,H), h_T (B,H), saved (gates, xh, hn, h_prev) = GRU(x (B,T,I), kernel (I,3H), U (H,3H), bias, h0)
template <typename T> void gru_forward(const GruForward<T>& a);
// dx (B,T,I), dkernel (I,3H), dU (H,3H), dbias, dh0 (B,H) = ∂(y·dy + h_T·dh_T) / ∂(inputs)
template <typename T> void gru_backward(const GruBackward<T>& a);

#define PYSEQ_DECLARE_GRU_ISA(ns)                                   \
  namespace ns {                                                    \
  template <typename T> void gru_forward(const GruForward<T>& a);   \
  template <typename T> void gru_backward(const GruBackward<T>& a); \
  }
PYSEQ_DECLARE_GRU_ISA(baseline)
PYSEQ_DECLARE_GRU_ISA(avx2)
PYSEQ_DECLARE_GRU_ISA(avx512)
#undef PYSEQ_DECLARE_GRU_ISA

}  // namespace pyseq::cpu
