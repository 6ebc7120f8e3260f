// SimpleRNN forward and backward over a whole sequence. Compiled once per ISA level (see isa.h).
// Legend: B batch, T steps, I input features, H hidden units.
//
// Forward, per step:  h_t = act(x_t·W + b + h_in·U),  h_in = h_{t-1}∘dropout_mask
// x·W for every row is one product before the loop; in the loop only h_in·U remains, then one
// fused pass adds the bias and applies the activation. Backward keeps only dh_{t-1} = dz_t·Uᵀ in
// the loop; afterwards dx = dz·Wᵀ, dW = xᵀ·dz and dU = h_inᵀ·dz are single products over all
// steps and db is dz's column sum. The activation is a template parameter of the per-row cells
// (one instantiation per activation, picked once per call); its derivative is taken from its
// output (saved in `act`), so forward saves no pre-activations.

#include "simple_rnn.h"

#include <cstring>

#include "blas.h"
#include "lstm.h"  // get_rnn_split: the step-loop split switch all RNN families share
#include "packed_gemm.h"
#include "rnn_common.h"
#include "token_inputs.h"
#include "vec_math.h"

#ifndef PYSEQ_ISA
#error "PYSEQ_ISA must name the ISA namespace this file is compiled for"
#endif

namespace pyseq::cpu::PYSEQ_ISA {

namespace {

using Act = RnnActivation;

template <typename T, Act A>
inline T activate(T z) {
  if constexpr (A == Act::tanh) return math::Act<T>::tanh(z);
  else if constexpr (A == Act::sigmoid) return math::Act<T>::sigmoid(z);
  else if constexpr (A == Act::relu) return z > T(0) ? z : T(0);
  else return z;
}

// d act / d z, from the output a = act(z).
template <typename T, Act A>
inline T activation_grad(T a) {
  if constexpr (A == Act::tanh) return T(1) - a * a;
  else if constexpr (A == Act::sigmoid) return a * (T(1) - a);
  else if constexpr (A == Act::relu) return a > T(0) ? T(1) : T(0);
  else return T(1);
}

// The step loop's split. A SimpleRNN step is a quarter of an LSTM step (one H-wide product), so
// splitting units (one barrier per step, and h_in's rows shared between cores) pays only where a
// thread would otherwise stream too much of U per step: rows need no barrier at all. Measured on
// 2 cores (bench/RESULTS.md): units win from H = 256 below 2 rows per thread, from H = 512 below
// 8 rows per thread, and at any batch once U (H·H) outgrows a core's 2 MiB L2; rows win
// everywhere else (at batch 8, H = 128 units are 2-3× slower). Forward and backward choose independently (the saved layout
// is Keras's whatever the split).
template <typename T>
Split rnn_split(std::int64_t B, std::int64_t H) {
  const int nth = get_num_threads();
  const char* mode = get_rnn_split();
  bool units;
  if (std::strcmp(mode, "batch") == 0) units = false;
  else if (std::strcmp(mode, "units") == 0) units = true;
  else units = (B < 2 * nth && H >= 256) || (B < 8 * nth && H >= 512) ||
               H * H * static_cast<std::int64_t>(sizeof(T)) > (std::int64_t(2) << 20);
  if (nth == 1 || H < 8 * nth) units = false;
  return split_for_chunks(H, units ? nth : 1);
}

// One valid step for `rows` consecutive rows and hs units: z holds x_t·W + h_in·U and receives
// act(z + b), which also goes to the state, to y, and (times the dropout mask) to h_next, the
// next step's h_in. z and y have row stride ld (T·H), h_next ld_next, the state and mask H.
template <typename T, Act A, bool kDropout>
void rnn_cell_forward(std::int64_t rows, std::int64_t hs, std::int64_t H, std::int64_t ld,
                      std::int64_t ld_next, T* z, const T* __restrict bias, T* h_state, T* y,
                      T* h_next, const T* dropout) {
  for (std::int64_t r = 0; r < rows; ++r) {
    T* __restrict zr = z + r * ld;
    T* __restrict hr = h_state + r * H;
    T* __restrict yr = y + r * ld;
    T* __restrict nr = h_next + r * ld_next;
    const T* __restrict mr = kDropout ? dropout + r * H : nullptr;
#pragma omp simd
    for (std::int64_t j = 0; j < hs; ++j) {
      const T h = activate<T, A>(zr[j] + bias[j]);
      zr[j] = h;
      hr[j] = h;
      yr[j] = h;
      nr[j] = kDropout ? h * mr[j] : h;
    }
  }
}

template <typename T>
using CellForward = void (*)(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             T*, const T*, T*, T*, T*, const T*);

// The driver is compiled once per scalar type; the activation and dropout live in `cell`, one
// instantiation each, called once per step for each run of valid rows.
template <typename T>
void forward_impl(const RnnForward<T>& a, CellForward<T> cell) {
  // (B,T,I) x, (I,H) W, (H,H) U -> (B,T,H) y, (B,H) h_T; saves act, h_in (B,T,H)
  const bool dropout = a.dropout_mask != nullptr;
  const std::int64_t B = a.B, T_ = a.T_, I = a.I, H = a.H;
  const Split split = rnn_split<T>(B, H);
  const UnitChunks& chunks = split.chunks;
  const bool panels = use_packed_step() && rows_per_part(split, B) > 1;  // else row kernel / gemv
  StepWeights<T> u_panels(chunks, panels ? H : 0, [&](int k) { return chunks.size(k); });

  Buffer<T> zero_bias(H), h_spill(B * H);
  std::fill(zero_bias.get(), zero_bias.get() + H, T(0));
  const T* bias = a.bias ? a.bias : zero_bias.get();
  T* h_state = a.h_last;  // the running state lives in the output and ends as h_T
  for (std::int64_t k = 0; k < B * H; ++k) h_state[k] = a.h0 ? a.h0[k] : T(0);
  const std::vector<std::int64_t> first_valid = first_valid_steps(a.mask, B, T_, a.reverse);

  // h_in of the first processed step.
  const std::int64_t t_first = a.reverse ? T_ - 1 : 0;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < H; ++j)
      a.h_in[(b * T_ + t_first) * H + j] =
          h_state[b * H + j] * (dropout ? a.dropout_mask[b * H + j] : T(1));

  auto step = [&](std::int64_t s, std::int64_t t, const Part& p) {
    const std::int64_t t_next = a.reverse ? t - 1 : t + 1;
    const bool has_next = s + 1 < T_;
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      // z[rows, chunk] += h_in[rows, t] · U[:, chunk]
      const T* h_rows = a.h_in + (p.b0 * T_ + t) * H;
      T* z_rows = a.act + (p.b0 * T_ + t) * H + u0;
      if (panels) {
        u_panels.multiply(k, p.b1 - p.b0, h_rows, T_ * H, z_rows, T_ * H, true);
      } else {
        step_gemm<T>(false, p.b1 - p.b0, hs, H, h_rows, T_ * H, a.recurrent_kernel + u0, H, T(1),
                     z_rows, T_ * H);
      }
      // After the last step there is no next input: h_next lands in scratch.
      auto h_next_of = [&](std::int64_t b) {
        return has_next ? a.h_in + (b * T_ + t_next) * H + u0 : h_spill.get() + b * H + u0;
      };
      const std::int64_t ld_next = has_next ? T_ * H : H;
      for (std::int64_t b = p.b0; b < p.b1;) {
        if (!a.mask || a.mask[b * T_ + t]) {  // a run of valid rows [b, e)
          std::int64_t e = b + 1;
          while (e < p.b1 && (!a.mask || a.mask[e * T_ + t])) ++e;
          cell(e - b, hs, H, T_ * H, ld_next, a.act + (b * T_ + t) * H + u0, bias + u0,
               h_state + b * H + u0, a.y + (b * T_ + t) * H + u0, h_next_of(b),
               dropout ? a.dropout_mask + b * H + u0 : nullptr);
          b = e;
          continue;
        }
        // A masked step: the state carries over; y repeats the last output or is zero.
        const T* h = h_state + b * H + u0;
        T* y = a.y + (b * T_ + t) * H + u0;
        T* h_next = h_next_of(b);
        if (!a.zero_output_for_mask && s > first_valid[b]) {
          std::copy(h, h + hs, y);
        } else {
          std::fill(y, y + hs, T(0));
        }
        const T* m = dropout ? a.dropout_mask + b * H + u0 : nullptr;
        for (std::int64_t j = 0; j < hs; ++j) h_next[j] = dropout ? h[j] * m[j] : h[j];
        ++b;
      }
    }
  };
  Buffer<T> P(a.ids ? a.V * H : 0);  // token inputs: table·W, whose rows act takes by id
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    // act = x · W: every input projection at once, each thread for the columns (units split) or
    // rows (batch split) it will update, so the step loop can start without a barrier.
    const Part p = step_part(split, B, tid, nth);
    if (split.by_units) {
      for (int k = p.k0; k < chunks.n; k += p.dk) {
        const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
        input_projection_columns(a.act, H, a.x, B * T_, a.ids, a.table, a.V, P.get(), I,
                                 a.kernel, u0, hs);
        if (panels) u_panels.pack(k, a.recurrent_kernel + u0, H, false);
      }
    } else {
      input_projection_rows(team, a.act, H, a.x, a.ids, a.table, a.V, P.get(), I, a.kernel,
                            p.b0 * T_, p.b1 * T_);
      if (panels) {  // one chunk shared by every thread: pack it together
        u_panels.pack_share(0, a.recurrent_kernel, H, false, tid, nth);
        team.barrier();
      }
    }
    time_loop(split, team, B, T_, a.reverse, /*backward=*/false, step,
              [](std::int64_t, std::int64_t, const Part&) {});
  });
}

// [dW; dU; db] = [x | h_in | 1]ᵀ·dz over R rows: (I,H), (H,H), (H,) from (R,I), (R,H), (R,H).
template <typename T>
void weight_grads(T* dW, T* dU, T* db, const T* x, const T* h_in, const T* dz, std::int64_t R,
                  std::int64_t I, std::int64_t H) {
  std::fill(db, db + H, T(0));
  if (R == 0) {  // K = 0: the BLAS may leave C untouched
    std::fill(dW, dW + I * H, T(0));
    std::fill(dU, dU + H * H, T(0));
    return;
  }
  if (I > 0) blas::gemm<T>(true, false, I, H, R, T(1), x, I, dz, H, T(0), dW, H);
  blas::gemm<T>(true, false, H, H, R, T(1), h_in, H, dz, H, T(0), dU, H);
  for (std::int64_t r = 0; r < R; ++r) {
    const T* __restrict dzr = dz + r * H;
#pragma omp simd
    for (std::int64_t j = 0; j < H; ++j) db[j] += dzr[j];
  }
}

// dz = (dh + dy) ∘ act'(z) for `rows` consecutive valid rows and hs units, act' taken from the
// output act = act(z); dy may be null (zeros). dz, dy and act have row stride ld (T·H), dh H.
template <typename T, Act A>
void rnn_cell_backward(std::int64_t rows, std::int64_t hs, std::int64_t H, std::int64_t ld, T* dz,
                       const T* dh, const T* dy, const T* act) {
  for (std::int64_t r = 0; r < rows; ++r) {
    T* __restrict dzr = dz + r * ld;
    const T* __restrict dhr = dh + r * H;
    const T* __restrict ar = act + r * ld;
    if (dy) {
      const T* __restrict dyr = dy + r * ld;
#pragma omp simd
      for (std::int64_t j = 0; j < hs; ++j)
        dzr[j] = (dhr[j] + dyr[j]) * activation_grad<T, A>(ar[j]);
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < hs; ++j) dzr[j] = dhr[j] * activation_grad<T, A>(ar[j]);
    }
  }
}

template <typename T>
using CellBackward = void (*)(std::int64_t, std::int64_t, std::int64_t, std::int64_t, T*,
                              const T*, const T*, const T*);

template <typename T>
void backward_impl(const RnnBackward<T>& a, CellBackward<T> cell) {
  // (B,T,H) dy, (B,H) dh_T -> (B,T,I) dx, (I,H) dW, (H,H) dU, (H,) db, (B,H) dh0
  const std::int64_t B = a.B, T_ = a.T_, I = a.I, H = a.H;
  const Split split = rnn_split<T>(B, H);
  const UnitChunks& chunks = split.chunks;
  const bool panels = use_packed_step() && rows_per_part(split, B) > 1;
  // Uᵀ's columns of each chunk: dh[:, chunk] = dz · U[chunk, :]ᵀ.
  StepWeights<T> ut_panels(chunks, panels ? H : 0, [&](int k) { return chunks.size(k); });
  const std::vector<std::int64_t> first_valid = first_valid_steps(a.mask, B, T_, a.reverse);

  Buffer<T> dz(B * T_ * H), dh_prev(B * H);
  T* dh = a.dh0;  // the carried gradient lives in the output and ends as dh0
  for (std::int64_t k = 0; k < B * H; ++k) dh[k] = a.dh_last ? a.dh_last[k] : T(0);

  // Phase A: dz_t for what this thread owns. dh holds the gradient reaching h_t from later
  // steps; y_t adds dy_t at valid steps, and at masked ones after the first valid (where y_t is
  // the carried h_t), in which case dh passes through to h_{t-1} as it is.
  auto act_grad = [&](std::int64_t s, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (std::int64_t b = p.b0; b < p.b1;) {
        const std::int64_t row = b * T_ + t;
        if (!a.mask || a.mask[row]) {  // a run of valid rows [b, e): h_t = act(z)
          std::int64_t e = b + 1;
          while (e < p.b1 && (!a.mask || a.mask[e * T_ + t])) ++e;
          cell(e - b, hs, H, T_ * H, dz.get() + row * H + u0, dh + b * H + u0,
               a.dy ? a.dy + row * H + u0 : nullptr, a.act + row * H + u0);
          b = e;
          continue;
        }
        T* __restrict d = dh + b * H + u0;
        if (a.dy && !a.zero_output_for_mask && s > first_valid[b]) {
          const T* __restrict dyt = a.dy + row * H + u0;
#pragma omp simd
          for (std::int64_t j = 0; j < hs; ++j) d[j] += dyt[j];
        }
        T* dzr = dz.get() + row * H + u0;
        std::fill(dzr, dzr + hs, T(0));  // no product through a masked step
        ++b;
      }
    }
  };
  // Phase B: dh_{t-1} = (dz_t · Uᵀ) ∘ dropout_mask at valid rows, for this thread's units (after
  // the barrier when units are split: it reads every unit's dz_t).
  auto carry = [&](std::int64_t, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      const T* dz_rows = dz.get() + (p.b0 * T_ + t) * H;
      T* dh_rows = dh_prev.get() + p.b0 * H + u0;
      if (panels) {
        ut_panels.multiply(k, p.b1 - p.b0, dz_rows, T_ * H, dh_rows, H, false);
      } else {
        step_gemm<T>(true, p.b1 - p.b0, hs, H, dz_rows, T_ * H, a.recurrent_kernel + u0 * H, H,
                     T(0), dh_rows, H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        if (a.mask && !a.mask[b * T_ + t]) continue;  // dh already holds dh_{t-1}
        T* d = dh + b * H + u0;
        const T* src = dh_prev.get() + b * H + u0;
        if (a.dropout_mask) {
          const T* m = a.dropout_mask + b * H + u0;
          for (std::int64_t j = 0; j < hs; ++j) d[j] = src[j] * m[j];
        } else {
          std::memcpy(d, src, hs * sizeof(T));
        }
      }
    }
  };
  // With token inputs dW comes from token_backward, and the partial sums hold [dU; db] only.
  const std::int64_t XI = a.ids ? 0 : I;
  const std::int64_t R = B * T_, P = (XI + H + 1) * H;  // P: one partial [dW; dU; db]
  const int n_partial = std::max(0, get_num_threads() - 1);  // the team is never larger
  Buffer<T> partial(n_partial * P), dP(a.ids ? a.V * H : 0);
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    if (split.by_units) {
      const Part p = step_part(split, B, tid, nth);
      for (int k = p.k0; k < chunks.n; k += p.dk)
        if (panels) ut_panels.pack(k, a.recurrent_kernel + chunks.begin(k) * H, H, true);
    } else if (panels) {  // one chunk shared by every thread: pack it together
      ut_panels.pack_share(0, a.recurrent_kernel, H, true, tid, nth);
      team.barrier();
    }
    time_loop(split, team, B, T_, a.reverse, /*backward=*/true, act_grad, carry);
    team.barrier();
    // After the loop, the time-independent products over all B·T rows at once.
    if (a.ids) {
      token_backward<T>(team, dP.get(), dz.get(), H, a.ids, R, a.V, a.table, I, a.kernel, H, H,
                        a.dtable, a.dkernel, H);
    } else {
      team_gemm<T>(tid, nth, false, true, R, I, H, T(1), dz.get(), H, a.kernel, H, T(0), a.dx,
                   I);
    }
    // [dW; dU; db] = [x | h_in | 1]ᵀ·dz: each thread sums its share of the rows, thread 0 into
    // the outputs and the others into scratch, then the team adds the partial sums. Full-width
    // products over half the rows beat thin column strips over all of them at small H (a third
    // less time at (32,100,20,64)) and tie at large H.
    const int ns = std::min(nth, n_partial + 1);  // threads that take a share of the rows
    if (tid < ns) {
      auto [r0, r1] = team_share(R, tid, ns, 8);
      T* dW = tid == 0 ? a.dkernel : partial.get() + (tid - 1) * P;
      weight_grads<T>(dW, tid == 0 ? a.drecurrent_kernel : dW + XI * H,
                      tid == 0 ? a.dbias : dW + (XI + H) * H, a.x ? a.x + r0 * I : nullptr,
                      a.h_in + r0 * H, dz.get() + r0 * H, r1 - r0, XI, H);
    }
    team.barrier();
    auto [e0, e1] = team_share(P, tid, nth, 16);  // this thread's elements of [dW; dU; db]
    auto add_partials = [&](T* out, std::int64_t first, std::int64_t count) {
      const std::int64_t lo = std::max(e0, first), hi = std::min(e1, first + count);
      for (int k = 1; k < ns; ++k) {
        const T* src = partial.get() + (k - 1) * P;
        for (std::int64_t e = lo; e < hi; ++e) out[e - first] += src[e];
      }
    };
    add_partials(a.dkernel, 0, XI * H);
    add_partials(a.drecurrent_kernel, XI * H, H * H);
    add_partials(a.dbias, (XI + H) * H, H);
  });
}

template <typename T, bool kDropout>
CellForward<T> forward_cell(Act act) {
  switch (act) {
    case Act::tanh: return &rnn_cell_forward<T, Act::tanh, kDropout>;
    case Act::relu: return &rnn_cell_forward<T, Act::relu, kDropout>;
    case Act::sigmoid: return &rnn_cell_forward<T, Act::sigmoid, kDropout>;
    default: return &rnn_cell_forward<T, Act::linear, kDropout>;
  }
}

template <typename T>
CellBackward<T> backward_cell(Act act) {
  switch (act) {
    case Act::tanh: return &rnn_cell_backward<T, Act::tanh>;
    case Act::relu: return &rnn_cell_backward<T, Act::relu>;
    case Act::sigmoid: return &rnn_cell_backward<T, Act::sigmoid>;
    default: return &rnn_cell_backward<T, Act::linear>;
  }
}

}  // namespace

template <typename T>
void rnn_forward(const RnnForward<T>& a) {
  forward_impl<T>(a, a.dropout_mask ? forward_cell<T, true>(a.activation)
                                    : forward_cell<T, false>(a.activation));
}

template <typename T>
void rnn_backward(const RnnBackward<T>& a) {
  backward_impl<T>(a, backward_cell<T>(a.activation));
}

template void rnn_forward<float>(const RnnForward<float>&);
template void rnn_forward<double>(const RnnForward<double>&);
template void rnn_backward<float>(const RnnBackward<float>&);
template void rnn_backward<double>(const RnnBackward<double>&);

}  // namespace pyseq::cpu::PYSEQ_ISA
