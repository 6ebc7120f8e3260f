// The recurrent kernels' input projection (LSTM, GRU, SimpleRNN), and their token inputs:
// x_t = table[ids[r]], an
// Embedding's rows (V of them), is never formed. Forward takes the input projection's rows from
// P = table·W (V rows instead of B·T); backward sums the gate gradients by id into dP first, then
// d_table = dP·Wᵀ and dW = tableᵀ·dP. Three products over B·T rows become products over V rows
// plus a gather and a scatter: cheaper whenever V is well below B·T.
#pragma once

#include <cstdint>
#include <cstring>

#include "blas.h"
#include "isa.h"
#include "rnn_common.h"

namespace pyseq::cpu {
PYSEQ_ISA_BEGIN

// out[r, c0 : c0+width] = P[ids[r], c0 : c0+width] for rows [r0, r1); both with row stride ld.
template <typename T>
inline void gather_rows(T* out, const T* P, std::int64_t ld, const std::int64_t* ids,
                        std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t width) {
  for (std::int64_t r = r0; r < r1; ++r)
    std::memcpy(out + r * ld + c0, P + ids[r] * ld + c0, width * sizeof(T));
}

// The input projection out (R rows, N columns) = x·W of a recurrent forward, from x (R × I) or
// from token inputs (then P, V × N scratch, holds table·W). Columns [c0, c0+width) for every row:
// a thread that owns a chunk of units.
template <typename T>
void input_projection_columns(T* out, std::int64_t N, const T* x, std::int64_t R,
                              const std::int64_t* ids, const T* table, std::int64_t V, T* P,
                              std::int64_t I, const T* W, std::int64_t c0, std::int64_t width) {
  if (ids) {
    blas::gemm<T>(false, false, V, width, I, T(1), table, I, W + c0, N, T(0), P + c0, N);
    gather_rows(out, P, N, ids, 0, R, c0, width);
  } else {
    blas::gemm<T>(false, false, R, width, I, T(1), x, I, W + c0, N, T(0), out + c0, N);
  }
}

// The same for rows [r0, r1) and every column: a thread that owns batch rows. Every team member
// calls it (with token inputs the team computes all of P first, then meets at a barrier).
template <typename T>
void input_projection_rows(const Team& team, T* out, std::int64_t N, const T* x,
                           const std::int64_t* ids, const T* table, std::int64_t V, T* P,
                           std::int64_t I, const T* W, std::int64_t r0, std::int64_t r1) {
  if (ids) {
    team_gemm<T>(team.tid, team.nth, false, false, V, N, I, T(1), table, I, W, N, T(0), P, N);
    team.barrier();
    gather_rows(out, P, N, ids, r0, r1, 0, N);
  } else if (r1 > r0) {
    blas::gemm<T>(false, false, r1 - r0, N, I, T(1), x + r0 * I, I, W, N, T(0), out + r0 * N, N);
  }
}

// The products after a recurrent backward's step loop, with token inputs. Every team member
// calls it once dz (R rows, stride ldz, N columns in the order of W's columns) is complete.
//   dP (V,N) scratch:  dP[v] = Σ_{r : ids[r] = v} dz[r]  (each thread its own columns: no races)
//   d_table (V,I) = dP·Wᵀ,  dW (I,N) = tableᵀ·dP  (row stride ld_dw)
template <typename T>
void token_backward(const Team& team, T* dP, const T* dz, std::int64_t ldz,
                    const std::int64_t* ids, std::int64_t R, std::int64_t V, const T* table,
                    std::int64_t I, const T* W, std::int64_t ldw, std::int64_t N, T* d_table,
                    T* dW, std::int64_t ld_dw) {
  auto [c0, c1] = team_share(N, team.tid, team.nth, 16);
  for (std::int64_t v = 0; v < V; ++v) std::fill(dP + v * N + c0, dP + v * N + c1, T(0));
  for (std::int64_t r = 0; r < R; ++r) {
    T* __restrict d = dP + ids[r] * N;
    const T* __restrict z = dz + r * ldz;
#pragma omp simd
    for (std::int64_t c = c0; c < c1; ++c) d[c] += z[c];
  }
  team.barrier();
  team_gemm<T>(team.tid, team.nth, false, true, V, I, N, T(1), dP, N, W, ldw, T(0), d_table, I);
  team_gemm<T>(team.tid, team.nth, true, false, I, N, V, T(1), table, I, dP, N, T(0), dW, ld_dw);
}

PYSEQ_ISA_END
}  // namespace pyseq::cpu
