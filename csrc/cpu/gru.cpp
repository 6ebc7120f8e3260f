// GRU forward and backward over a whole sequence. Compiled once per ISA level (see isa.h).
// Legend: B batch, T steps, I input features, H hidden units; gates z, r and the candidate n.
//
// Forward, per step, with h_in = h_{t-1}∘dropout_mask and g = x_t·W + b_x (+ b_h for z, r):
//   reset_after:  a = h_in·U + b_h (all 3H columns, one product)
//                 z, r = σ(g_z + a_z), σ(g_r + a_r);  n = tanh(g_n + r∘a_n)
//   otherwise:    z, r = σ(g_z + h_in·U_z), σ(g_r + h_in·U_r);  n = tanh(g_n + (r∘h_in)·U_n)
//   h_t = z∘h_{t-1} + (1 - z)∘n
// x·W for every row is one product before the loop. Backward keeps only the dh_{t-1} products in
// the loop; afterwards dx, [dW; db] and dU are products over all steps at once.
#include "gru.h"

#include <cstring>

#include "blas.h"
#include "packed_gemm.h"
#include "rnn_common.h"
#include "token_inputs.h"
#include "vec_math.h"

#ifndef PYSEQ_ISA
#error "PYSEQ_ISA must name the ISA namespace this file is compiled for"
#endif

namespace pyseq::cpu::PYSEQ_ISA {

namespace {

constexpr int G = 3;  // gates per unit

// Backward's column orders. "zr2": the z and r columns of every unit chunk, chunk k's at 2*u0 as
// [z(u0..u1) r(..)] (one chunk: Keras's [z r]). These move Keras's z, r columns (at 0 and H of a
// row) of rows [r0, r1) to that order and back; leading dimensions in elements.
template <typename T>
void zr_to_chunked(T* dst, std::int64_t ldd, const T* src, std::int64_t lds, std::int64_t r0,
                   std::int64_t r1, std::int64_t H, const UnitChunks& chunks) {
  for (std::int64_t r = r0; r < r1; ++r)
    for (int k = 0; k < chunks.n; ++k) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (int g = 0; g < 2; ++g)
        std::copy(src + r * lds + g * H + u0, src + r * lds + g * H + u0 + hs,
                  dst + r * ldd + 2 * u0 + g * hs);
    }
}

template <typename T>
void zr_from_chunked(T* dst, std::int64_t ldd, const T* src, std::int64_t lds, std::int64_t r0,
                     std::int64_t r1, std::int64_t H, const UnitChunks& chunks) {
  for (std::int64_t r = r0; r < r1; ++r)
    for (int k = 0; k < chunks.n; ++k) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (int g = 0; g < 2; ++g)
        std::copy(src + r * lds + 2 * u0 + g * hs, src + r * lds + 2 * u0 + (g + 1) * hs,
                  dst + r * ldd + g * H + u0);
    }
}

// The step loop's packed weights, per_unit columns per hidden unit of each chunk. Built out of
// line with every call inside inlined (flatten): left to itself GCC outlines and clones parts of
// std::vector here under std:: names, which tests/test_build.py cannot tell from AVX code leaking
// out of the ISA builds.
template <typename T>
[[gnu::flatten, gnu::noinline]] std::unique_ptr<StepWeights<T>> make_step_weights(
    const UnitChunks& chunks, std::int64_t K, int per_unit) {
  return std::make_unique<StepWeights<T>>(chunks, K,
                                          [&](int k) { return per_unit * chunks.size(k); });
}

// A masked step for one row and chunk: the state carries over; y repeats the last output or is
// zero; the next recurrent input is the carried state.
template <typename T, bool kDropout>
inline void masked_step(const T* h, T* y, T* h_next, const T* drop, bool repeat, std::int64_t hs) {
  if (repeat) {
    std::copy(h, h + hs, y);
  } else {
    std::fill(y, y + hs, T(0));
  }
  for (std::int64_t j = 0; j < hs; ++j) h_next[j] = kDropout ? h[j] * drop[j] : h[j];
}

// One valid reset_after step for one row and chunk of hs units, in one pass. g: the chunk's
// [z r n] input projections (no bias), replaced by the activations; a: h_in·U for the chunk;
// bias: [b_xz+b_hz, b_xr+b_hr, b_xn] of the chunk; b_hn: the chunk's b_hn. Saves a_n + b_hn to hn
// and (with dropout) h_{t-1} to hp; h goes to the state, to y and (times the mask) to h_next.
template <typename T, bool kDropout>
inline void cell_forward_ra(T* __restrict g, const T* __restrict a, const T* __restrict bias,
                            const T* __restrict b_hn, T* __restrict h_state, T* __restrict y,
                            T* __restrict hn, T* __restrict hp, T* __restrict h_next,
                            const T* __restrict drop, std::int64_t hs) {
  using A = math::Act<T>;
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T z = A::sigmoid(g[j] + a[j] + bias[j]);
    const T r = A::sigmoid(g[hs + j] + a[hs + j] + bias[hs + j]);
    const T an = a[2 * hs + j] + b_hn[j];
    const T n = A::tanh(g[2 * hs + j] + bias[2 * hs + j] + r * an);
    const T h_prev = h_state[j];
    const T h = n + z * (h_prev - n);  // z∘h_{t-1} + (1 - z)∘n
    g[j] = z;
    g[hs + j] = r;
    g[2 * hs + j] = n;
    hn[j] = an;
    if (kDropout) hp[j] = h_prev;
    h_state[j] = h;
    y[j] = h;
    h_next[j] = kDropout ? h * drop[j] : h;
  }
}

// Without reset_after, the first half of a valid step: g_z, g_r hold x·W + h_in·U (no bias) and
// receive z, r; rh = r∘h_in, the input of the candidate's product.
template <typename T>
inline void cell_forward_zr(T* __restrict g, const T* __restrict bias, const T* __restrict h_in,
                            T* __restrict rh, std::int64_t hs) {
  using A = math::Act<T>;
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T z = A::sigmoid(g[j] + bias[j]);
    const T r = A::sigmoid(g[hs + j] + bias[hs + j]);
    g[j] = z;
    g[hs + j] = r;
    rh[j] = r * h_in[j];
  }
}

// ... and the second half: g_n holds x·W_n + (r∘h_in)·U_n (no bias) and receives n.
template <typename T, bool kDropout>
inline void cell_forward_n(T* __restrict g, const T* __restrict bias, T* __restrict h_state,
                           T* __restrict y, T* __restrict hp, T* __restrict h_next,
                           const T* __restrict drop, std::int64_t hs) {
  using A = math::Act<T>;
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T n = A::tanh(g[2 * hs + j] + bias[2 * hs + j]);
    const T z = g[j];
    const T h_prev = h_state[j];
    const T h = n + z * (h_prev - n);
    g[2 * hs + j] = n;
    if (kDropout) hp[j] = h_prev;
    h_state[j] = h;
    y[j] = h;
    h_next[j] = kDropout ? h * drop[j] : h;
  }
}

template <typename T, bool kResetAfter, bool kDropout>
void forward_impl(const GruForward<T>& a) {
  const std::int64_t B = a.B, T_ = a.T_, I = a.I, H = a.H, G3H = G * H;
  const std::int64_t XI = a.ids ? 0 : I, XH = gru_xh_columns(XI, H, kResetAfter);
  const Split split = split_for_chunks(H, choose_unit_chunks(B, H));
  const UnitChunks& chunks = split.chunks;
  *a.unit_chunks = chunks.n;
  const bool packed = chunks.n > 1;
  // Weights in the chunked column order: buffers the team fills when there are several chunks.
  Buffer<T> W_buf(packed ? I * G3H : 1), U_buf(packed ? H * G3H : 1);
  const T* W = packed ? W_buf.get() : a.kernel;
  const T* U = packed ? U_buf.get() : a.recurrent_kernel;
  const bool panels = use_packed_step() && rows_per_part(split, B) > 1;  // else row kernel / gemv
  // reset_after: each chunk's 3·hs columns in one product; otherwise z, r (2·hs) then n (hs).
  const auto u_panels = make_step_weights<T>(chunks, panels ? H : 0, kResetAfter ? 3 : 2);
  const auto un_panels = make_step_weights<T>(chunks, panels && !kResetAfter ? H : 0, 1);

  // bias: chunked [b_z, b_r, b_n] of the input side, with the recurrent side's b_z, b_r added
  // (only their sum ever matters); b_hn apart, since r multiplies it.
  Buffer<T> bias(G3H), b_hn(H), h_spill(B * H), a_step(kResetAfter ? B * G3H : 1);
  std::fill(b_hn.get(), b_hn.get() + H, T(0));
  if (!a.bias) {
    std::fill(bias.get(), bias.get() + G3H, T(0));
  } else if (kResetAfter) {
    Buffer<T> sum(G3H);
    for (std::int64_t c = 0; c < G3H; ++c) sum.get()[c] = a.bias[c] + (c < 2 * H ? a.bias[G3H + c] : T(0));
    pack_rows(bias.get(), sum.get(), 0, 1, H, G, chunks);
    std::copy(a.bias + G3H + 2 * H, a.bias + 2 * G3H, b_hn.get());
  } else {
    pack_rows(bias.get(), a.bias, 0, 1, H, G, chunks);
  }
  T* h_state = a.h_last;  // the running state lives in the output and ends as h_T
  for (std::int64_t k = 0; k < B * H; ++k) h_state[k] = a.h0 ? a.h0[k] : T(0);
  const std::vector<std::int64_t> first_valid = first_valid_steps(a.mask, B, T_, a.reverse);

  // h_in of the first processed step.
  const std::int64_t t_first = a.reverse ? T_ - 1 : 0;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < H; ++j)
      a.xh[(b * T_ + t_first) * XH + XI + 1 + j] =
          h_state[b * H + j] * (kDropout ? a.dropout_mask[b * H + j] : T(1));

  const std::int64_t h_col = XI + 1, rh_col = XI + 1 + H;
  // Where a valid step of row b at time t writes its outputs (masked steps write y, h_next only).
  auto h_next_of = [&](std::int64_t s, std::int64_t t, std::int64_t b, std::int64_t u0) {
    // After the last step there is no next input: h_next lands in scratch.
    if (s + 1 >= T_) return h_spill.get() + b * H + u0;
    const std::int64_t t_next = a.reverse ? t - 1 : t + 1;
    return a.xh + (b * T_ + t_next) * XH + h_col + u0;
  };
  auto valid = [&](std::int64_t b, std::int64_t t) { return !a.mask || a.mask[b * T_ + t]; };
  auto repeat = [&](std::int64_t s, std::int64_t b) {
    return !a.zero_output_for_mask && s > first_valid[b];
  };

  // reset_after: one product and one fused pass per step.
  auto step_ra = [&](std::int64_t s, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      // a[rows, chunk] = h_in[rows, t] · U[:, chunk]
      const T* h_rows = a.xh + (p.b0 * T_ + t) * XH + h_col;
      T* a_rows = a_step.get() + p.b0 * G3H + G * u0;
      if (panels) {
        u_panels->multiply(k, p.b1 - p.b0, h_rows, T_ * XH, a_rows, G3H, false);
      } else {
        step_gemm<T>(false, p.b1 - p.b0, G * hs, H, h_rows, T_ * XH, U + G * u0, G3H, T(0),
                     a_rows, G3H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        T* h = h_state + b * H + u0;
        T* y = a.y + row * H + u0;
        T* h_next = h_next_of(s, t, b, u0);
        const T* m = kDropout ? a.dropout_mask + b * H + u0 : nullptr;
        if (valid(b, t)) {
          cell_forward_ra<T, kDropout>(a.gates + row * G3H + G * u0, a_step.get() + b * G3H + G * u0,
                                       bias.get() + G * u0, b_hn.get() + u0, h, y,
                                       a.hn + row * H + u0, kDropout ? a.h_prev + row * H + u0 : nullptr,
                                       h_next, m, hs);
        } else {
          masked_step<T, kDropout>(h, y, h_next, m, repeat(s, b), hs);
        }
      }
    }
  };
  // Without reset_after: z, r (phase a), then after every unit's r∘h_in exists, n and h (phase b).
  auto step_zr = [&](std::int64_t, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      // g[rows, chunk z r] += h_in[rows, t] · U[:, chunk z r]
      const T* h_rows = a.xh + (p.b0 * T_ + t) * XH + h_col;
      T* g_rows = a.gates + (p.b0 * T_ + t) * G3H + G * u0;
      if (panels) {
        u_panels->multiply(k, p.b1 - p.b0, h_rows, T_ * XH, g_rows, T_ * G3H, true);
      } else {
        step_gemm<T>(false, p.b1 - p.b0, 2 * hs, H, h_rows, T_ * XH, U + G * u0, G3H, T(1),
                     g_rows, T_ * G3H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        T* rh = a.xh + row * XH + rh_col + u0;
        if (valid(b, t)) {
          cell_forward_zr<T>(a.gates + row * G3H + G * u0, bias.get() + G * u0,
                             a.xh + row * XH + h_col + u0, rh, hs);
        } else {
          std::fill(rh, rh + hs, T(0));  // read by backward's dU product (times a zero gradient)
        }
      }
    }
  };
  auto step_n = [&](std::int64_t s, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      // g[rows, chunk n] += (r∘h_in)[rows, t] · U[:, chunk n]
      const T* rh_rows = a.xh + (p.b0 * T_ + t) * XH + rh_col;
      T* g_rows = a.gates + (p.b0 * T_ + t) * G3H + G * u0 + 2 * hs;
      if (panels) {
        un_panels->multiply(k, p.b1 - p.b0, rh_rows, T_ * XH, g_rows, T_ * G3H, true);
      } else {
        step_gemm<T>(false, p.b1 - p.b0, hs, H, rh_rows, T_ * XH, U + G * u0 + 2 * hs, G3H,
                     T(1), g_rows, T_ * G3H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        T* h = h_state + b * H + u0;
        T* y = a.y + row * H + u0;
        T* h_next = h_next_of(s, t, b, u0);
        const T* m = kDropout ? a.dropout_mask + b * H + u0 : nullptr;
        if (valid(b, t)) {
          cell_forward_n<T, kDropout>(a.gates + row * G3H + G * u0, bias.get() + G * u0, h, y,
                                      kDropout ? a.h_prev + row * H + u0 : nullptr, h_next, m, hs);
        } else {
          masked_step<T, kDropout>(h, y, h_next, m, repeat(s, b), hs);
        }
      }
    }
  };
  Buffer<T> P(a.ids ? a.V * G3H : 0);  // token inputs: table·W, whose rows gates take by id
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    // gates = x · W: every input projection at once, each thread for the gates it will update
    // (its chunks' columns, or its rows), so the step loop can start without a barrier.
    const Part p = step_part(split, B, tid, nth);
    {  // the constant columns of xh for this thread's share of rows (read by backward only)
      auto [r0, r1] = team_share(B * T_, tid, nth);
      for (std::int64_t r = r0; r < r1; ++r) {
        if (!a.ids) std::copy(a.x + r * I, a.x + (r + 1) * I, a.xh + r * XH);
        a.xh[r * XH + XI] = T(1);
        if (kResetAfter) a.xh[r * XH + XH - 1] = T(1);
      }
    }
    T* Wm = W_buf.get();
    T* Um = U_buf.get();
    if (packed) {
      for (int k = p.k0; k < chunks.n; k += p.dk) {
        pack_chunk(Wm, a.kernel, 0, I, H, G, chunks, k);
        pack_chunk(Um, a.recurrent_kernel, 0, H, H, G, chunks, k);
        const std::int64_t c0 = G * chunks.begin(k), width = G * chunks.size(k);
        input_projection_columns(a.gates, G3H, a.x, B * T_, a.ids, a.table, a.V, P.get(), I, W,
                                 c0, width);
        if (panels) {
          u_panels->pack(k, U + c0, G3H, false);
          if (!kResetAfter) un_panels->pack(k, U + c0 + 2 * chunks.size(k), G3H, false);
        }
      }
    } else {
      input_projection_rows(team, a.gates, G3H, a.x, a.ids, a.table, a.V, P.get(), I, W,
                            p.b0 * T_, p.b1 * T_);
      if (panels) {  // one chunk shared by every thread: pack it together
        u_panels->pack_share(0, U, G3H, false, tid, nth);
        if (!kResetAfter) un_panels->pack_share(0, U + 2 * H, G3H, false, tid, nth);
        team.barrier();
      }
    }
    if constexpr (kResetAfter) {
      time_loop(split, team, B, T_, a.reverse, /*backward=*/false, step_ra,
                [](std::int64_t, std::int64_t, const Part&) {});
    } else {
      time_loop(split, team, B, T_, a.reverse, /*backward=*/false, step_zr, step_n,
                [](std::int64_t, std::int64_t, const Part&) {});
    }
  });
}

// Backward of cell_forward_ra for one row and chunk. dh: in, the gradient reaching h_t (upstream
// plus recurrent); out, its direct part of dh_{t-1} (through z∘h_{t-1}). Writes the chunk's
// gradients of the pre-activations: dzr (z and r, the same on both sides), dn_x (input side's n)
// and dn_a (of a_n = h_in·U_n + b_hn).
template <typename T>
inline void cell_backward_ra(T* __restrict dzr, T* __restrict dn_x, T* __restrict dn_a,
                             T* __restrict dh, const T* __restrict g, const T* __restrict hn,
                             const T* __restrict hp, std::int64_t hs) {
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T z = g[j], r = g[hs + j], n = g[2 * hs + j], d = dh[j];
    const T dn = d * (T(1) - z) * (T(1) - n * n);         // h = z∘h_{t-1} + (1-z)∘n, n = tanh(.)
    const T dz = d * (hp[j] - n) * z * (T(1) - z);        // z = σ(.)
    const T dr = dn * hn[j] * r * (T(1) - r);             // n = tanh(g_n + r∘a_n), r = σ(.)
    dzr[j] = dz;
    dzr[hs + j] = dr;
    dn_x[j] = dn;
    dn_a[j] = dn * r;
    dh[j] = d * z;
  }
}

// Without reset_after, the first part: dz and dn (dr needs (dn·U_nᵀ) from every unit).
template <typename T>
inline void cell_backward_zn(T* __restrict dg, T* __restrict dzr, T* __restrict dn_out,
                             T* __restrict dh, const T* __restrict g, const T* __restrict hp,
                             std::int64_t hs) {
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T z = g[j], n = g[2 * hs + j], d = dh[j];
    const T dn = d * (T(1) - z) * (T(1) - n * n);
    const T dz = d * (hp[j] - n) * z * (T(1) - z);
    dg[j] = dz;
    dg[2 * hs + j] = dn;
    dzr[j] = dz;
    dn_out[j] = dn;
    dh[j] = d * z;
  }
}

// Backward. The gate gradients of all steps are kept for the products after the loop:
//   reset_after: rows of 4H, [dn_x (H) | dz dr (2H, zr2 order) | dn_a (H)], so that the input
//     side's gradient [dn_x | dz dr] and the recurrent side's [dz dr | dn_a] are both contiguous
//     3H-column matrices (one copy of dz, dr); W and U are read in the matching column orders.
//   otherwise: rows of 3H in forward's chunked gate order (one gradient for both sides).
template <typename T, bool kResetAfter, bool kDropout>
void backward_impl(const GruBackward<T>& a) {
  const std::int64_t B = a.B, T_ = a.T_, I = a.I, H = a.H, G3H = G * H;
  const std::int64_t XI = a.ids ? 0 : I, XH = gru_xh_columns(XI, H, kResetAfter);
  const Split split = split_for_chunks(H, a.unit_chunks);
  const UnitChunks& chunks = split.chunks;
  const bool packed = chunks.n > 1;
  const std::int64_t DG = kResetAfter ? 4 * H : G3H;  // columns of a dg row
  // W in dg's input-side column order: [n | zr2] (reset_after, always a copy), else chunked.
  const bool copy_W = kResetAfter || packed;
  Buffer<T> W_buf(copy_W ? I * G3H : 1);
  const T* W = copy_W ? W_buf.get() : a.kernel;
  // The step loop's U: reset_after, [zr2 | n] (H,3H); otherwise U's zr2 columns (H,2H). With one
  // chunk both are U itself (read with leading dimension 3H).
  Buffer<T> U_buf(packed ? H * (kResetAfter ? G3H : 2 * H) : 1);
  const T* U = packed ? U_buf.get() : a.recurrent_kernel;
  const std::int64_t ldu = packed && !kResetAfter ? 2 * H : G3H;
  const bool panels = use_packed_step() && rows_per_part(split, B) > 1;
  // dh[:, chunk] = dga · U[chunk, :]ᵀ (K = 3H), or dzr · U_zr[chunk, :]ᵀ (K = 2H); and without
  // reset_after q[:, chunk] = dn · U_n[chunk, :]ᵀ (K = H).
  const auto ut_panels = make_step_weights<T>(chunks, panels ? (kResetAfter ? G3H : 2 * H) : 0, 1);
  const auto unt_panels = make_step_weights<T>(chunks, panels && !kResetAfter ? H : 0, 1);
  const std::vector<std::int64_t> first_valid = first_valid_steps(a.mask, B, T_, a.reverse);

  const std::int64_t R = B * T_;
  Buffer<T> dg(R * DG), dh_total(B * H), dh_prev(B * H);
  // The step product's rows of dg: reset_after [dz dr | dn_a] at column H; else the whole row.
  T* dg_rec = dg.get() + (kResetAfter ? H : 0);
  // Without reset_after: dn in unit order, q = dn·U_nᵀ, and [dz dr] per step (two, alternating:
  // a thread may write step t-1's while another still reads step t's).
  Buffer<T> dn(kResetAfter ? 1 : B * H), q(kResetAfter ? 1 : B * H),
      dzr(kResetAfter ? 1 : 2 * B * 2 * H);
  T* dh = a.dh0;  // the carried gradient lives in the output and ends as dh0
  for (std::int64_t k = 0; k < B * H; ++k) dh[k] = a.dh_last ? a.dh_last[k] : T(0);

  const std::int64_t h_col = XI + 1;
  // h_{t-1} of a row: saved apart with a dropout mask, else it is h_in.
  auto h_prev_of = [&](std::int64_t row, std::int64_t u0) {
    return kDropout ? a.h_prev + row * H + u0 : a.xh + row * XH + h_col + u0;
  };
  auto valid = [&](std::int64_t b, std::int64_t t) { return !a.mask || a.mask[b * T_ + t]; };
  // dh_total = the carried dh plus dy where y_t is h_t: at valid steps, and at masked ones after
  // the first valid (y repeats the carried h_t).
  auto total_dh = [&](std::int64_t s, std::int64_t row, std::int64_t b, std::int64_t u0,
                      std::int64_t hs, bool is_valid) {
    T* dht = dh_total.get() + b * H + u0;
    const T* dhc = dh + b * H + u0;
    const bool y_uses_h = is_valid || (!a.zero_output_for_mask && s > first_valid[b]);
    if (a.dy && y_uses_h) {
      const T* dyt = a.dy + row * H + u0;
      for (std::int64_t j = 0; j < hs; ++j) dht[j] = dhc[j] + dyt[j];
    } else {
      std::memcpy(dht, dhc, hs * sizeof(T));
    }
    return dht;
  };
  // dh_{t-1} = dh_total (its direct part, or all of it at a masked step) + prod ∘ dropout_mask.
  auto finish_carry = [&](std::int64_t b, std::int64_t t, std::int64_t u0, std::int64_t hs,
                          const T* prod) {
    T* d = dh + b * H + u0;
    const T* direct = dh_total.get() + b * H + u0;
    if (!valid(b, t)) {
      std::memcpy(d, direct, hs * sizeof(T));  // a masked step passes dh through unchanged
    } else if (kDropout) {
      const T* m = a.dropout_mask + b * H + u0;
      for (std::int64_t j = 0; j < hs; ++j) d[j] = direct[j] + prod[j] * m[j];
    } else {
      for (std::int64_t j = 0; j < hs; ++j) d[j] = direct[j] + prod[j];
    }
  };

  // ---- reset_after: phase A the gate gradients, phase B dh_{t-1} = dga·Uᵀ (every unit's dga).
  auto grad_ra = [&](std::int64_t s, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        const bool v = valid(b, t);
        T* dht = total_dh(s, row, b, u0, hs, v);
        T* dgr = dg.get() + row * DG;
        T* dzr_r = dgr + H + 2 * u0;
        T* dn_x = dgr + u0;
        T* dn_a = dgr + 3 * H + u0;
        if (v) {
          cell_backward_ra<T>(dzr_r, dn_x, dn_a, dht, a.gates + row * G3H + G * u0,
                              a.hn + row * H + u0, h_prev_of(row, u0), hs);
        } else {
          std::fill(dzr_r, dzr_r + 2 * hs, T(0));
          std::fill(dn_x, dn_x + hs, T(0));
          std::fill(dn_a, dn_a + hs, T(0));
        }
      }
    }
  };
  auto carry_ra = [&](std::int64_t, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      const T* dga_rows = dg_rec + (p.b0 * T_ + t) * DG;
      T* out = dh_prev.get() + p.b0 * H + u0;
      if (panels) {
        ut_panels->multiply(k, p.b1 - p.b0, dga_rows, T_ * DG, out, H, false);
      } else {
        step_gemm<T>(true, p.b1 - p.b0, hs, G3H, dga_rows, T_ * DG, U + u0 * G3H, G3H, T(0),
                     out, H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b)
        finish_carry(b, t, u0, hs, dh_prev.get() + b * H + u0);
    }
  };
  // ---- otherwise: A dz, dn; B q = dn·U_nᵀ and dr; C dh_{t-1} = [dz dr]·U_zrᵀ + q∘r.
  auto grad_zn = [&](std::int64_t s, std::int64_t t, const Part& p) {
    T* dzr_s = dzr.get() + (s & 1) * B * 2 * H;
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        const bool v = valid(b, t);
        T* dht = total_dh(s, row, b, u0, hs, v);
        T* dgr = dg.get() + row * G3H + G * u0;
        T* dzr_r = dzr_s + b * 2 * H + 2 * u0;
        if (v) {
          cell_backward_zn<T>(dgr, dzr_r, dn.get() + b * H + u0, dht, a.gates + row * G3H + G * u0,
                              h_prev_of(row, u0), hs);
        } else {
          std::fill(dgr, dgr + G * hs, T(0));
          std::fill(dzr_r, dzr_r + 2 * hs, T(0));
          std::fill(dn.get() + b * H + u0, dn.get() + b * H + u0 + hs, T(0));
        }
      }
    }
  };
  auto grad_r = [&](std::int64_t s, std::int64_t t, const Part& p) {
    T* dzr_s = dzr.get() + (s & 1) * B * 2 * H;
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      T* q_rows = q.get() + p.b0 * H + u0;
      if (panels) {
        unt_panels->multiply(k, p.b1 - p.b0, dn.get() + p.b0 * H, H, q_rows, H, false);
      } else {
        step_gemm<T>(true, p.b1 - p.b0, hs, H, dn.get() + p.b0 * H, H,
                     a.recurrent_kernel + u0 * G3H + 2 * H, G3H, T(0), q_rows, H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        if (!valid(b, t)) continue;  // its dr stays zero
        const T* r = a.gates + row * G3H + G * u0 + hs;
        const T* h_in = a.xh + row * XH + h_col + u0;
        const T* qb = q.get() + b * H + u0;
        T* dgr = dg.get() + row * G3H + G * u0 + hs;
        T* dzr_r = dzr_s + b * 2 * H + 2 * u0 + hs;
#pragma omp simd
        for (std::int64_t j = 0; j < hs; ++j) {
          const T dr = qb[j] * h_in[j] * r[j] * (T(1) - r[j]);  // (r∘h_in)·U_n, r = σ(.)
          dgr[j] = dr;
          dzr_r[j] = dr;
        }
      }
    }
  };
  auto carry_zr = [&](std::int64_t s, std::int64_t t, const Part& p) {
    const T* dzr_s = dzr.get() + (s & 1) * B * 2 * H;
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      T* out = dh_prev.get() + p.b0 * H + u0;
      if (panels) {
        ut_panels->multiply(k, p.b1 - p.b0, dzr_s + p.b0 * 2 * H, 2 * H, out, H, false);
      } else {
        step_gemm<T>(true, p.b1 - p.b0, hs, 2 * H, dzr_s + p.b0 * 2 * H, 2 * H, U + u0 * ldu, ldu,
                     T(0), out, H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        T* o = dh_prev.get() + b * H + u0;
        if (valid(b, t)) {
          const T* r = a.gates + row * G3H + G * u0 + hs;
          const T* qb = q.get() + b * H + u0;
          for (std::int64_t j = 0; j < hs; ++j) o[j] += qb[j] * r[j];  // d(r∘h_in)/dh_in = r
        }
        finish_carry(b, t, u0, hs, o);
      }
    }
  };

  // After the loop, the time-independent products over all B·T rows at once, into
  // [dW; db_x | dU; db_h] (reset_after: in dg's input-side / recurrent-side column orders) or
  // [dW; db; dU] (chunked gate order).
  const std::int64_t out_rows = kResetAfter ? I + H + 2 : I + 1 + H;
  Buffer<T> dWbU(out_rows * G3H), dP(a.ids ? a.V * G3H : 0);
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    const Part p = step_part(split, B, tid, nth);
    if (packed) {  // the step loop reads U's rows of this thread's units
      T* Um = U_buf.get();
      for (int k = p.k0; k < chunks.n; k += p.dk) {
        const std::int64_t u0 = chunks.begin(k), u1 = chunks.end(k);
        zr_to_chunked(Um, kResetAfter ? G3H : 2 * H, a.recurrent_kernel, G3H, u0, u1, H, chunks);
        if (kResetAfter)
          for (std::int64_t r = u0; r < u1; ++r)
            std::copy(a.recurrent_kernel + r * G3H + 2 * H, a.recurrent_kernel + (r + 1) * G3H,
                      Um + r * G3H + 2 * H);
        if (panels) {
          ut_panels->pack(k, U + u0 * ldu, ldu, true);
          if (!kResetAfter) unt_panels->pack(k, a.recurrent_kernel + u0 * G3H + 2 * H, G3H, true);
        }
      }
    } else if (panels) {  // one chunk shared by every thread: pack it together
      ut_panels->pack_share(0, U, G3H, true, tid, nth);
      if (!kResetAfter) unt_panels->pack_share(0, a.recurrent_kernel + 2 * H, G3H, true, tid, nth);
    }
    if (copy_W) {  // dx (after the loop) reads all of W
      auto [r0, r1] = team_share(I, tid, nth);
      T* Wm = W_buf.get();
      if (kResetAfter) {
        for (std::int64_t r = r0; r < r1; ++r)
          std::copy(a.kernel + r * G3H + 2 * H, a.kernel + (r + 1) * G3H, Wm + r * G3H);
        zr_to_chunked(Wm + H, G3H, a.kernel, G3H, r0, r1, H, chunks);
      } else {
        pack_rows(Wm, a.kernel, r0, r1, H, G, chunks);
      }
    }
    if (!packed && panels) team.barrier();
    if constexpr (kResetAfter) {
      time_loop(split, team, B, T_, a.reverse, /*backward=*/true, grad_ra, carry_ra);
    } else {
      time_loop(split, team, B, T_, a.reverse, /*backward=*/true, grad_zn, grad_r, carry_zr);
    }
    team.barrier();
    // dx = dg_x · Wᵀ
    if (a.ids) {  // token inputs: d_table and dW from dg summed by id
      token_backward<T>(team, dP.get(), dg.get(), DG, a.ids, R, a.V, a.table, I, W, G3H, G3H,
                        a.dtable, dWbU.get(), G3H);
    } else {
      team_gemm<T>(tid, nth, false, true, R, I, G3H, T(1), dg.get(), DG, W, G3H, T(0), a.dx,
                   I);
    }
    // [dW; db_x] = [x | 1]ᵀ·dg, or its db_x row with token inputs
    team_gemm<T>(tid, nth, true, false, XI + 1, G3H, R, T(1), a.xh, XH, dg.get(), DG, T(0),
                 dWbU.get() + (I - XI) * G3H, G3H);
    T* dU = dWbU.get() + (I + 1) * G3H;
    if (kResetAfter) {  // [dU; db_h] = [h_in | 1]ᵀ · dga
      team_gemm<T>(tid, nth, true, false, H + 1, G3H, R, T(1), a.xh + h_col, XH, dg_rec, DG,
                   T(0), dU, G3H);
    } else {  // dU_zr = h_inᵀ · dg_zr, dU_n = (r∘h_in)ᵀ · dg_n, chunk by chunk
      for (int k = 0; k < chunks.n; ++k) {
        const std::int64_t c0 = G * chunks.begin(k), hs = chunks.size(k);
        team_gemm<T>(tid, nth, true, false, H, 2 * hs, R, T(1), a.xh + h_col, XH, dg.get() + c0,
                     G3H, T(0), dU + c0, G3H);
        team_gemm<T>(tid, nth, true, false, H, hs, R, T(1), a.xh + h_col + H, XH,
                     dg.get() + c0 + 2 * hs, G3H, T(0), dU + c0 + 2 * hs, G3H);
      }
    }
    team.barrier();
    // Rows [r0, r1) of the products back to Keras's column order, into the outputs.
    auto [r0, r1] = team_share(out_rows, tid, nth);
    auto unpack_rows = [&](T* dst, std::int64_t first, std::int64_t count, bool input_side) {
      const std::int64_t lo = std::max(r0, first) - first, hi = std::min(r1, first + count) - first;
      if (lo >= hi) return;
      const T* src = dWbU.get() + first * G3H;
      if (!kResetAfter) {
        for (int k = 0; k < chunks.n; ++k) unpack_chunk(dst, src, lo, hi, H, G, chunks, k);
        return;
      }
      // input side [n | zr2], recurrent side [zr2 | n]
      const std::int64_t zr_at = input_side ? H : 0, n_at = input_side ? 0 : 2 * H;
      zr_from_chunked(dst, G3H, src + zr_at, G3H, lo, hi, H, chunks);
      for (std::int64_t r = lo; r < hi; ++r)
        std::copy(src + r * G3H + n_at, src + r * G3H + n_at + H, dst + r * G3H + 2 * H);
    };
    unpack_rows(a.dkernel, 0, I, true);
    unpack_rows(a.dbias, I, 1, true);
    unpack_rows(a.drecurrent_kernel, I + 1, H, false);
    if (kResetAfter) unpack_rows(a.dbias + G3H, I + 1 + H, 1, false);
  });
}

}  // namespace

template <typename T>
void gru_forward(const GruForward<T>& a) {
  if (a.reset_after) {
    if (a.dropout_mask) forward_impl<T, true, true>(a); else forward_impl<T, true, false>(a);
  } else {
    if (a.dropout_mask) forward_impl<T, false, true>(a); else forward_impl<T, false, false>(a);
  }
}

template <typename T>
void gru_backward(const GruBackward<T>& a) {
  if (a.reset_after) {
    if (a.dropout_mask) backward_impl<T, true, true>(a); else backward_impl<T, true, false>(a);
  } else {
    if (a.dropout_mask) backward_impl<T, false, true>(a); else backward_impl<T, false, false>(a);
  }
}

template void gru_forward<float>(const GruForward<float>&);
template void gru_forward<double>(const GruForward<double>&);
template void gru_backward<float>(const GruBackward<float>&);
template void gru_backward<double>(const GruBackward<double>&);

}  // namespace pyseq::cpu::PYSEQ_ISA
