// LSTM over a whole sequence, forward and backward (Keras layout, gate order i, f, c, o).
// Legend: B batch, T steps, I input features, H hidden units.
#pragma once

#include <cstdint>

#include "isa.h"

namespace pyseq::cpu {

// The gate columns of `gates` (and of the packed weights the kernel builds internally) are grouped
// by unit chunk so that each thread's gates are contiguous: chunk k, holding units [u0, u1),
// occupies columns [4*u0, 4*u1) as [i(u0..u1) f(..) c(..) o(..)]. One chunk = Keras's order.
// Forward picks the chunk count; backward reads it from the saved state.

template <typename T>
struct LstmForward {
  // outputs
  T* y;          // (B,T,H) in input order
  T* h_last;     // (B,H)
  T* c_last;     // (B,H)
  // saved for backward
  T* gates;      // (B,T,4H) post-activation gates, chunked column order
  T* xh;         // (B,T,XI+1+H) each row [x_t | 1 | h_in], h_in = h_prev * recurrent_dropout_mask
                 // (the step's recurrent input): backward gets dW, db and dU from one product.
                 // XI = I, or 0 with token inputs (x is never formed; see ids below)
  T* c_in;       // (B,T,H)  cell state entering each step
  int* unit_chunks;  // out: number of unit chunks used for the gate layout
  // inputs (all C-contiguous; the nullable ones mean zeros / all valid / no dropout)
  const T* x;                 // (B,T,I), or null with token inputs
  // Token inputs: x_t = table[ids[b,t]] (an Embedding's output, never formed). The input
  // projection is then table·W (V rows) gathered by id: cheaper than x·W when V < B·T.
  const std::int64_t* ids;    // (B,T) in [0,V), or null for x
  const T* table;             // (V,I) with ids
  std::int64_t V;
  const T* kernel;            // (I,4H)
  const T* recurrent_kernel;  // (H,4H)
  const T* bias;              // (4H,) or null
  const T* h0;                // (B,H) or null
  const T* c0;                // (B,H) or null
  const std::uint8_t* mask;   // (B,T) or null, nonzero = valid
  const T* dropout_mask;      // (B,H) or null
  // sizes and options
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T>
struct LstmBackward {
  // outputs (gradients of the forward inputs)
  T* dx;                 // (B,T,I), or null with token inputs
  T* dtable;             // (V,I) with token inputs (the gradient reaching the table), else null
  T* dkernel;            // (I,4H)
  T* drecurrent_kernel;  // (H,4H)
  T* dbias;              // (4H,)
  T* dh0;                // (B,H)
  T* dc0;                // (B,H)
  // upstream gradients, nullable = zeros
  const T* dy;      // (B,T,H)
  const T* dh_last; // (B,H)
  const T* dc_last; // (B,H)
  // saved by forward
  const T* gates; const T* xh; const T* c_in; int unit_chunks;
  const T* kernel; const T* recurrent_kernel;
  const std::uint8_t* mask; const T* dropout_mask;
  const std::int64_t* ids; const T* table; std::int64_t V;  // token inputs, as in forward
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

// How the step loop is split across threads: "auto", "batch" (each thread owns rows, no
// synchronisation) or "units" (each thread owns hidden units, one barrier per step). For tuning.
void set_rnn_split(const char* mode);
const char* get_rnn_split();
// The step loop's product against the recurrent weights: "packed" (weights packed once per call,
// packed_gemm.h) or "blas" (a BLAS call per step, which re-packs them each time). For comparison.
void set_step_product(const char* mode);
const char* get_step_product();

template <typename T> void lstm_forward(const LstmForward<T>& a);
template <typename T> void lstm_backward(const LstmBackward<T>& a);

#define PYSEQ_DECLARE_LSTM_ISA(ns)                                   \
  namespace ns {                                                     \
  template <typename T> void lstm_forward(const LstmForward<T>& a);  \
  template <typename T> void lstm_backward(const LstmBackward<T>& a);\
  }
PYSEQ_DECLARE_LSTM_ISA(baseline)
PYSEQ_DECLARE_LSTM_ISA(avx2)
PYSEQ_DECLARE_LSTM_ISA(avx512)
#undef PYSEQ_DECLARE_LSTM_ISA

}  // namespace pyseq::cpu
