// SimpleRNN over a whole sequence, forward and backward (Keras layout).
// Legend: B batch, T steps, I input features, H hidden units.
#pragma once

#include <cstdint>

#include "isa.h"

namespace pyseq::cpu {

// The step's activation; each is its own instantiation of the kernels (a template parameter).
enum class RnnActivation { tanh, relu, sigmoid, linear };

template <typename T>
struct RnnForward {
  // outputs
  T* y;       // (B,T,H) in input order
  T* h_last;  // (B,H)
  // saved for backward
  T* act;   // (B,T,H) post-activation output of each valid step (unspecified at masked steps)
  T* h_in;  // (B,T,H) the step's recurrent input h_{t-1} * recurrent_dropout_mask
  // inputs (all C-contiguous; the nullable ones mean zeros / all valid / no dropout)
  const T* x;                 // (B,T,I), or null with token inputs
  // Token inputs (token_inputs.h): x_t = table[ids[b,t]], never formed
  const std::int64_t* ids;    // (B,T) in [0,V), or null for x
  const T* table;             // (V,I) with ids
  std::int64_t V;
  const T* kernel;            // (I,H)
  const T* recurrent_kernel;  // (H,H)
  const T* bias;              // (H,) or null
  const T* h0;                // (B,H) or null
  const std::uint8_t* mask;   // (B,T) or null, nonzero = valid
  const T* dropout_mask;      // (B,H) or null
  // sizes and options
  std::int64_t B, T_, I, H;
  RnnActivation activation;
  bool reverse, zero_output_for_mask;
};

template <typename T>
struct RnnBackward {
  // outputs (gradients of the forward inputs)
  T* dx;                 // (B,T,I), or null with token inputs
  T* dtable;             // (V,I) with token inputs, else null
  T* dkernel;            // (I,H)
  T* drecurrent_kernel;  // (H,H)
  T* dbias;              // (H,)
  T* dh0;                // (B,H)
  // upstream gradients, nullable = zeros
  const T* dy;       // (B,T,H)
  const T* dh_last;  // (B,H)
  // saved by forward
  const T* act; const T* h_in;
  const T* x; const T* kernel; const T* recurrent_kernel;
  const std::uint8_t* mask; const T* dropout_mask;
  const std::int64_t* ids; const T* table; std::int64_t V;  // token inputs, as in forward
  std::int64_t B, T_, I, H;
  RnnActivation activation;
  bool reverse, zero_output_for_mask;
};

template <typename T> void rnn_forward(const RnnForward<T>& a);
template <typename T> void rnn_backward(const RnnBackward<T>& a);

#define PYSEQ_DECLARE_RNN_ISA(ns)                                  \
  namespace ns {                                                   \
  template <typename T> void rnn_forward(const RnnForward<T>& a);  \
  template <typename T> void rnn_backward(const RnnBackward<T>& a);\
  }
PYSEQ_DECLARE_RNN_ISA(baseline)
PYSEQ_DECLARE_RNN_ISA(avx2)
PYSEQ_DECLARE_RNN_ISA(avx512)
#undef PYSEQ_DECLARE_RNN_ISA

}  // namespace pyseq::cpu
