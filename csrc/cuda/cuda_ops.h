// The host-side interface of the CUDA kernels (PYSEQ_CUDA=ON): plain pointers and sizes, no CUDA
// types, so that the pybind11 module (csrc/bindings/cuda_module.cpp) is compiled by the host
// compiler. Every pointer is a device pointer to C-contiguous data unless said otherwise. Work is
// queued on the legacy default stream; a failed launch or CUDA call throws std::runtime_error
// whose message starts with "[op]".
// Legend: B batch, T steps, I input features, H hidden units, N heads, Lq/Lk query/key length,
// D head size (q, k), Dv value size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pyseq::cuda {

// ---- memory and devices (memory.cu) ------------------------------------------------------------
// (device counts and descriptions: cuda.h, device.cu, compiled into both extensions)
int pointer_device(const char* op, const void* p);  // the device holding p; throws for host memory
void set_device(const char* op, int device);
void* device_alloc(const char* op, std::size_t bytes);  // stream-ordered; never null for bytes > 0
void device_free(void* p) noexcept;
void zero(const char* op, void* p, std::size_t bytes);
// dst (C-contiguous) <- src with byte strides, ndim <= 6.
void copy_strided(const char* op, void* dst, const void* src, int ndim, const std::int64_t* shape,
                  const std::int64_t* strides_bytes, int itemsize);
void wait_for_stream(const char* op, std::uintptr_t stream);  // the producer's stream, 0 = none
void copy_to_host(const char* op, void* dst, const void* src, std::size_t bytes);  // for tests
void check_launch(const char* op);                             // throws on a failed launch

// ---- attention (attention.cu) ------------------------------------------------------------------
// Same semantics as csrc/cpu/attention.h, including the dropout generator.
struct AttentionOptions {
  const std::uint8_t* key_mask;   // (B,Lk) or null, nonzero = keep the key
  const std::uint8_t* attn_mask;  // (B,Lq,Lk) or null, nonzero = attend
  bool causal;
  double scale;
  double dropout;
  std::uint64_t seed;
  std::int64_t B, N, Lq, Lk, D, Dv;
};

template <typename T>
struct AttentionForward {
  T* o;      // (B,Lq,N,Dv)
  T* lse;    // (B,N,Lq), +inf for fully masked rows
  const T* q; const T* k; const T* v;
  AttentionOptions opt;
};

template <typename T>
struct AttentionBackward {
  T* dq; T* dk; T* dv;
  const T* dout; const T* o; const T* lse; const T* q; const T* k; const T* v;
  AttentionOptions opt;
};

// Whether the tiles fit this device's shared memory (false: D or Dv too large for the kernel).
template <typename T> bool attention_fits(std::int64_t D, std::int64_t Dv);
template <typename T> void attention_forward(const AttentionForward<T>& a);
template <typename T> void attention_backward(const AttentionBackward<T>& a);
// The keep-mask (B,N,Lq,Lk) of the dropout generator, on the device: for tests against the CPU's.
void attention_dropout_mask(std::uint8_t* keep, std::uint64_t seed, std::int64_t B,
                            std::int64_t N, std::int64_t Lq, std::int64_t Lk, double p);

// ---- LSTM (lstm.cu) ----------------------------------------------------------------------------
// Same semantics as csrc/cpu/lstm.h; gates in Keras's column order (one chunk).
template <typename T>
struct LstmForward {
  T* y;        // (B,T,H)
  T* h_last;   // (B,H)
  T* c_last;   // (B,H)
  T* gates;    // (B,T,4H) saved: post-activation gates (zeros at masked steps)
  T* h_in;     // (B,T,H)  saved: the recurrent input of each step, h_{t-1} * dropout_mask
  T* c_in;     // (B,T,H)  saved: the cell state entering each step
  std::int32_t* first_valid;  // (B,) saved: processing position of each row's first valid step
  const T* x; const T* kernel; const T* recurrent_kernel;
  const T* bias;               // (4H,) or null
  const T* h0; const T* c0;    // (B,H) or null
  const std::uint8_t* mask;    // (B,T) or null
  const T* dropout_mask;       // (B,H) or null
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T>
struct LstmBackward {
  T* dx; T* dkernel; T* drecurrent_kernel; T* dbias; T* dh0; T* dc0;
  T* dz;                        // (B,T,4H) scratch: pre-activation gate gradients
  const T* dy; const T* dh_last; const T* dc_last;  // nullable = zeros
  const T* gates; const T* h_in; const T* c_in; const std::int32_t* first_valid;
  const T* x; const T* kernel; const T* recurrent_kernel;
  const std::uint8_t* mask; const T* dropout_mask;
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T> void lstm_forward(const LstmForward<T>& a);
template <typename T> void lstm_backward(const LstmBackward<T>& a);

// ---- GRU (gru.cu), reset_after=True only ------------------------------------------------------
// Same semantics as csrc/cpu/gru.h with reset_after=True (Keras's default, cuDNN's form):
// a = h_in·U + b_h (one product for all three gates), n = tanh(gx_n + r∘a_n).
template <typename T>
struct GruForward {
  T* y;        // (B,T,H)
  T* h_last;   // (B,H)
  T* gates;    // (B,T,3H) saved: post-activation z, r, n (zeros at masked steps)
  T* hn;       // (B,T,H)  saved: a_n = h_in·U_n + b_hn, what r multiplies
  T* h_prev;   // (B,T,H)  saved: the state entering each step
  T* h_in;     // (B,T,H)  saved: h_{t-1} * dropout_mask
  std::int32_t* first_valid;   // (B,)
  const T* x; const T* kernel; const T* recurrent_kernel;
  const T* bias;               // (2,3H): row 0 b_x, row 1 b_h; or null
  const T* h0;                 // (B,H) or null
  const std::uint8_t* mask; const T* dropout_mask;
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T>
struct GruBackward {
  T* dx; T* dkernel; T* drecurrent_kernel; T* dbias /* (2,3H) */; T* dh0;
  T* dgx;  // (B,T,3H) scratch: gradients of x·W + b_x
  T* da;   // (B,T,3H) scratch: gradients of h_in·U + b_h
  const T* dy; const T* dh_last;
  const T* gates; const T* hn; const T* h_prev; const T* h_in; const std::int32_t* first_valid;
  const T* x; const T* kernel; const T* recurrent_kernel;
  const std::uint8_t* mask; const T* dropout_mask;
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T> void gru_forward(const GruForward<T>& a);
template <typename T> void gru_backward(const GruBackward<T>& a);

// ---- SimpleRNN (simple_rnn.cu) -----------------------------------------------------------------
enum class RnnActivation : int { tanh = 0, relu = 1, sigmoid = 2, linear = 3 };

template <typename T>
struct RnnForward {
  T* y;        // (B,T,H)
  T* h_last;   // (B,H)
  T* act;      // (B,T,H) saved: h_t at valid steps (the activation's output), zeros at masked
  T* h_in;     // (B,T,H) saved
  std::int32_t* first_valid;
  const T* x; const T* kernel; const T* recurrent_kernel;
  const T* bias; const T* h0;  // (H,), (B,H) or null
  const std::uint8_t* mask; const T* dropout_mask;
  RnnActivation activation;
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T>
struct RnnBackward {
  T* dx; T* dkernel; T* drecurrent_kernel; T* dbias; T* dh0;
  T* dz;  // (B,T,H) scratch: pre-activation gradients
  const T* dy; const T* dh_last;
  const T* act; const T* h_in; const std::int32_t* first_valid;
  const T* x; const T* kernel; const T* recurrent_kernel;
  const std::uint8_t* mask; const T* dropout_mask;
  RnnActivation activation;
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
};

template <typename T> void rnn_forward(const RnnForward<T>& a);
template <typename T> void rnn_backward(const RnnBackward<T>& a);

// ---- conv1d (conv1d.cu) and 1-D pooling (pool1d.cu) -----------------------------------------
// The semantics of csrc/cpu/conv1d.h, csrc/cpu/pool1d.h and docs/conv1d_contract.md; the bindings
// turn the padding name into pad_left and T_out.
struct Conv1dShape {
  std::int64_t B, T, C, F, K;  // x (B,T,C), kernel (K, C/G, F)
  std::int64_t T_out;          // y (B,T_out,F)
  std::int64_t stride, dilation, groups, pad_left;
};

template <typename T>
void conv1d_forward(T* y, const T* x, const T* kernel, const T* bias /* nullable */, const Conv1dShape& s);
template <typename T>
void conv1d_backward(T* dx, T* dkernel, T* dbias /* nullable */, const T* dy, const T* x, const T* kernel,
                     const Conv1dShape& s);

// Windowed pools over x (B,T,C): window t' covers steps [t'·stride − pad_left, ... + pool) ∩ [0, T).
struct PoolShape {
  std::int64_t B, T, C, T_out, pool, stride, pad_left;
};
// y (B,T_out,C); argmax (B,T_out,C) saved: the step of the window's first maximum.
template <typename T>
void max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const PoolShape& s);
template <typename T>
void max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, const PoolShape& s);
template <typename T>
void avg_pool1d_forward(T* y, const T* x, const PoolShape& s);
template <typename T>
void avg_pool1d_backward(T* dx, const T* dy, const PoolShape& s);
// Global pools: y (B,C) over the valid steps (mask (B,T) nullable); a row without one gives 0.
template <typename T>
void global_max_pool1d_forward(T* y, std::int32_t* argmax /* (B,C), -1 = none */, const T* x,
                               const std::uint8_t* mask, std::int64_t B, std::int64_t T_, std::int64_t C);
template <typename T>
void global_max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, std::int64_t B,
                                std::int64_t T_, std::int64_t C);
template <typename T>
void global_avg_pool1d_forward(T* y, const T* x, const std::uint8_t* mask, std::int64_t B, std::int64_t T_,
                               std::int64_t C);
template <typename T>
void global_avg_pool1d_backward(T* dx, const T* dy, const std::uint8_t* mask, std::int64_t B,
                                std::int64_t T_, std::int64_t C);

}  // namespace pyseq::cuda
