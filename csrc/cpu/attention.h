// Fused softmax attention, forward and backward, flash-style: tiles of queries against tiles of
// keys with an online softmax, so that no L×L matrix exists (unless the caller asks for the
// weights). Layout (B, L, N, D) for q, k, v, as a multi-head layer's projections produce it.
// Legend: B batch, N heads, Lq query length, Lk key length, D head size (q, k), Dv value size.
#pragma once

#include <cstdint>

#include "isa.h"

namespace pyseq::cpu {

// Options shared by forward and backward. Masks combine by AND; a query row with every key
// masked has zero output and zero gradients.
struct AttentionOptions {
  const std::uint8_t* key_mask;   // (B,Lk) or null, nonzero = keep the key
  const std::uint8_t* attn_mask;  // (B,Lq,Lk) or null, nonzero = attend
  bool causal;                    // query i sees keys 0..i (top-left aligned)
  double scale;                   // applied to q·k
  double dropout;                 // probability in [0, 1) of dropping a weight
  std::uint64_t seed;             // keys the counter-based dropout generator
  std::int64_t B, N, Lq, Lk, D, Dv;
};

template <typename T>
struct AttentionForward {
  // outputs
  T* o;       // (B,Lq,N,Dv)
  T* lse;     // (B,N,Lq) log-sum-exp of the scaled, masked scores; +inf for fully masked rows
  T* scores;  // (B,N,Lq,Lk) softmax weights before dropout, or null (not wanted)
  // inputs, C-contiguous
  const T* q;  // (B,Lq,N,D)
  const T* k;  // (B,Lk,N,D)
  const T* v;  // (B,Lk,N,Dv)
  AttentionOptions opt;
};

template <typename T>
struct AttentionBackward {
  // outputs
  T* dq;  // (B,Lq,N,D)
  T* dk;  // (B,Lk,N,D)
  T* dv;  // (B,Lk,N,Dv)
  // upstream gradient, saved outputs and inputs, C-contiguous
  const T* dout;  // (B,Lq,N,Dv)
  const T* o;     // (B,Lq,N,Dv)
  const T* lse;   // (B,N,Lq)
  const T* q;
  const T* k;
  const T* v;
  AttentionOptions opt;
};

// The dropout generator, shared by forward, backward and the tests' NumPy twin
// (pyseq/reference.py): weight (b, n, i, j) is kept iff hash(seed, b, n, i, j) >= threshold(p),
// with
//   row  = splitmix64(seed ^ splitmix64((b·N + n)·Lq + i))      (64-bit, once per query row)
//   bits = fmix32(low32(row) ^ (j · 0x9E3779B9) ^ high32(row))  (32-bit, per key, vectorises)
//   threshold(p) = floor(p · 2^32)
// fmix32 is MurmurHash3's finaliser, splitmix64 Vigna's mixer (both public domain constants).
std::uint32_t attention_dropout_threshold(double p);
PYSEQ_ISA_BEGIN
#include "dropout_hash.inc"  // splitmix64, dropout_row_key, dropout_bits (shared with csrc/cuda/dropout.cuh)
PYSEQ_ISA_END
void attention_dropout_mask(std::uint8_t* keep, std::uint64_t seed, std::int64_t B,
                            std::int64_t N, std::int64_t Lq, std::int64_t Lk, double p);

// Tile sizes (rows of queries, rows of keys) the kernels use; 0 = automatic. For tuning/tests.
void set_attention_tiles(int block_q, int block_k);
void get_attention_tiles(int* block_q, int* block_k);
// Keys per pass of the fused float32 backward over a head's query tiles (rounded up to its key
// block); 0 = automatic (with AMX as many as keep the pass's key-side data in L2, else all).
// For tuning/tests.
void set_attention_key_chunk(int keys);
int get_attention_key_chunk();

// The float32 AVX-512 kernels compute their products (S = Q Kᵀ and O = P V forward; S,
// dP = dO Vᵀ and dQ = dS K backward) on AMX tiles where the CPU has AMX-BF16 and the OS
// grants it: each float32 operand is split exactly into
// three bfloat16 parts and the six largest of the nine part products are accumulated in float32,
// which keeps float32 accuracy (each dropped term is at most 2^-24 of its product; amx_bf16x3.h).
// Forward and backward must take the same path (backward recomputes forward's scores): the
// switch is for tests and benchmarks, flipped between calls, not between a forward and its
// backward. On by default where available.
bool attention_amx_available();
void set_attention_amx(bool wanted);
bool attention_amx_enabled();  // available and wanted

template <typename T> void attention_forward(const AttentionForward<T>& a);
template <typename T> void attention_backward(const AttentionBackward<T>& a);

#define PYSEQ_DECLARE_ATTENTION_ISA(ns)                                       \
  namespace ns {                                                              \
  template <typename T> void attention_forward(const AttentionForward<T>& a);   \
  template <typename T> void attention_backward(const AttentionBackward<T>& a); \
  }
PYSEQ_DECLARE_ATTENTION_ISA(baseline)
PYSEQ_DECLARE_ATTENTION_ISA(avx2)
PYSEQ_DECLARE_ATTENTION_ISA(avx512)
#undef PYSEQ_DECLARE_ATTENTION_ISA

}  // namespace pyseq::cpu
