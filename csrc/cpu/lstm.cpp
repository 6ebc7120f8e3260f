// LSTM forward and backward over a whole sequence. Compiled once per ISA level (see isa.h).
// Legend: B batch, T steps, I input features, H hidden units; gates i, f, c (written g), o.
//
// Forward, per step:  z = x_t·W + h_in·U + b;  i,f,o = σ(z), g = tanh(z)
//                     c_t = f∘c_{t-1} + i∘g;  h_t = o∘tanh(c_t);  h_in = h_{t-1}∘dropout_mask
// x·W for every row is one product before the loop; in the loop only h_in·U remains, then one
// fused pass over the gates. Backward keeps only dh_{t-1} = dz_t·Uᵀ in the loop; afterwards
// dx = dz·Wᵀ, and [dW; db; dU] = [x | 1 | h_in]ᵀ·dz in one product over all steps.
// Token inputs (x_t = table[id], an Embedding's rows; token_inputs.h): x·W is (table·W)[ids].
#include "lstm.h"

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

constexpr int G = 4;  // gates per unit

// The weights in the chunked column order (see lstm.h): the originals when there is one chunk,
// otherwise buffers that the team fills, each thread its own share (pack_chunk / pack_rows).
template <typename T>
struct ChunkedWeights {
  std::unique_ptr<Buffer<T>> W_buf, U_buf;
  const T* W;  // (I,4H)
  const T* U;  // (H,4H)
  ChunkedWeights(const T* kernel, const T* recurrent, std::int64_t I, std::int64_t H, bool packed)
      : W_buf(packed ? std::make_unique<Buffer<T>>(I * G * H) : nullptr),
        U_buf(packed ? std::make_unique<Buffer<T>>(H * G * H) : nullptr),
        W(packed ? W_buf->get() : kernel),
        U(packed ? U_buf->get() : recurrent) {}
  T* W_mut() { return W_buf->get(); }
  T* U_mut() { return U_buf->get(); }
};

// One valid step for one row and one chunk of hs units, in one pass: z holds the chunk's
// pre-activations [i f g o] (without bias) and receives the activations; the cell state entering
// the step is saved to c_in; h goes to the state, to y, and (times the dropout mask) to h_next,
// the next step's recurrent input.
template <typename T, bool kDropout>
inline void lstm_cell_forward(T* __restrict z, const T* __restrict bias, T* __restrict c_state,
                              T* __restrict h_state, T* __restrict c_in, T* __restrict y,
                              T* __restrict h_next, const T* __restrict dropout, std::int64_t hs) {
  using A = math::Act<T>;
  T* __restrict zi = z;
  T* __restrict zf = z + hs;
  T* __restrict zg = z + 2 * hs;
  T* __restrict zo = z + 3 * hs;
  const T* __restrict bi = bias;
  const T* __restrict bf = bias + hs;
  const T* __restrict bg = bias + 2 * hs;
  const T* __restrict bo = bias + 3 * hs;
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T i = A::sigmoid(zi[j] + bi[j]);
    const T f = A::sigmoid(zf[j] + bf[j]);
    const T g = A::tanh(zg[j] + bg[j]);
    const T o = A::sigmoid(zo[j] + bo[j]);
    const T c_prev = c_state[j];
    const T c = f * c_prev + i * g;
    const T h = o * A::tanh(c);
    zi[j] = i;
    zf[j] = f;
    zg[j] = g;
    zo[j] = o;
    c_in[j] = c_prev;
    c_state[j] = c;
    h_state[j] = h;
    y[j] = h;
    h_next[j] = kDropout ? h * dropout[j] : h;
  }
}

template <typename T, bool kDropout>
void forward_impl(const LstmForward<T>& a) {
  const std::int64_t B = a.B, T_ = a.T_, I = a.I, H = a.H, G4H = G * H;
  const std::int64_t XI = a.ids ? 0 : I, XH = XI + 1 + H;  // xh row: [x | 1 | h_in]
  const Split split = split_for_chunks(H, choose_unit_chunks(B, H));
  const UnitChunks& chunks = split.chunks;
  *a.unit_chunks = chunks.n;
  const bool packed = chunks.n > 1;
  ChunkedWeights<T> w(a.kernel, a.recurrent_kernel, I, H, packed);
  const bool panels = use_packed_step() && rows_per_part(split, B) > 1;  // else row kernel / gemv
  StepWeights<T> u_panels(chunks, panels ? H : 0, [&](int k) { return G * chunks.size(k); });

  Buffer<T> bias(G4H), h_spill(B * H);
  if (a.bias) {
    pack_rows(bias.get(), a.bias, 0, 1, H, G, chunks);
  } else {
    std::fill(bias.get(), bias.get() + G4H, T(0));
  }
  T* h_state = a.h_last;  // the running state lives in the outputs and ends as h_T, c_T
  T* c_state = a.c_last;
  for (std::int64_t k = 0; k < B * H; ++k) {
    c_state[k] = a.c0 ? a.c0[k] : T(0);
    h_state[k] = a.h0 ? a.h0[k] : T(0);
  }
  const std::vector<std::int64_t> first_valid = first_valid_steps(a.mask, B, T_, a.reverse);

  // h_in of the first processed step.
  const std::int64_t t_first = a.reverse ? T_ - 1 : 0;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < H; ++j)
      a.xh[(b * T_ + t_first) * XH + XI + 1 + j] =
          h_state[b * H + j] * (kDropout ? a.dropout_mask[b * H + j] : T(1));

  auto step = [&](std::int64_t s, std::int64_t t, const Part& p) {
    const std::int64_t t_next = a.reverse ? t - 1 : t + 1;
    const bool has_next = s + 1 < T_;
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      // z[rows, chunk] += h_in[rows, t] · U[:, chunk]
      const T* h_rows = a.xh + (p.b0 * T_ + t) * XH + XI + 1;
      T* z_rows = a.gates + (p.b0 * T_ + t) * G4H + G * u0;
      if (panels) {
        u_panels.multiply(k, p.b1 - p.b0, h_rows, T_ * XH, z_rows, T_ * G4H, true);
      } else {
        step_gemm<T>(false, p.b1 - p.b0, G * hs, H, h_rows, T_ * XH, w.U + G * u0, G4H, T(1),
                     z_rows, T_ * G4H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const std::int64_t row = b * T_ + t;
        T* c = c_state + b * H + u0;
        T* h = h_state + b * H + u0;
        T* y = a.y + row * H + u0;
        // After the last step there is no next input: h_next lands in scratch.
        T* h_next = has_next ? a.xh + (b * T_ + t_next) * XH + XI + 1 + u0
                             : h_spill.get() + b * H + u0;
        const T* m = kDropout ? a.dropout_mask + b * H + u0 : nullptr;
        if (!a.mask || a.mask[row]) {
          lstm_cell_forward<T, kDropout>(a.gates + row * G4H + G * u0, bias.get() + G * u0, c, h,
                                         a.c_in + row * H + u0, y, h_next, m, hs);
          continue;
        }
        // A masked step: the state carries over; y repeats the last output or is zero.
        std::copy(c, c + hs, a.c_in + row * H + u0);
        if (!a.zero_output_for_mask && s > first_valid[b]) {
          std::copy(h, h + hs, y);
        } else {
          std::fill(y, y + hs, T(0));
        }
        for (std::int64_t j = 0; j < hs; ++j) h_next[j] = kDropout ? h[j] * m[j] : h[j];
      }
    }
  };
  // Token inputs: P = table·W (V,4H) in the chunked column order; gates rows are P's rows by id.
  Buffer<T> P(a.ids ? a.V * G4H : 0);
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    // gates = x · W: every input projection at once, each thread for the gates it will update
    // (its chunks' columns, or its rows), so the step loop can start without a barrier.
    const Part p = step_part(split, B, tid, nth);
    {  // [x | 1] of xh for this thread's share of rows (read by backward only)
      auto [r0, r1] = team_share(B * T_, tid, nth);
      for (std::int64_t r = r0; r < r1; ++r) {
        if (!a.ids) std::copy(a.x + r * I, a.x + (r + 1) * I, a.xh + r * XH);
        a.xh[r * XH + XI] = T(1);
      }
    }
    if (packed) {
      for (int k = p.k0; k < chunks.n; k += p.dk) {
        pack_chunk(w.W_mut(), a.kernel, 0, I, H, G, chunks, k);
        pack_chunk(w.U_mut(), a.recurrent_kernel, 0, H, H, G, chunks, k);
        const std::int64_t c0 = G * chunks.begin(k), width = G * chunks.size(k);
        input_projection_columns(a.gates, G4H, a.x, B * T_, a.ids, a.table, a.V, P.get(), I,
                                 w.W, c0, width);
        if (panels) u_panels.pack(k, w.U + c0, G4H, false);
      }
    } else {
      input_projection_rows(team, a.gates, G4H, a.x, a.ids, a.table, a.V, P.get(), I, w.W,
                            p.b0 * T_, p.b1 * T_);
      if (panels) {  // one chunk shared by every thread: pack it together
        u_panels.pack_share(0, w.U, G4H, false, tid, nth);
        team.barrier();
      }
    }
    time_loop(split, team, B, T_, a.reverse, /*backward=*/false, step,
              [](std::int64_t, std::int64_t, const Part&) {});
  });
}

// Backward of lstm_cell_forward for one row and chunk. dh: gradient reaching h_t (upstream plus
// recurrent); dc: carried cell gradient, in: dc_t, out: dc_{t-1}. Writes dz = ∂L/∂z.
template <typename T>
inline void lstm_cell_backward(T* __restrict dz, T* __restrict dc, const T* __restrict gates,
                               const T* __restrict c_prev, const T* __restrict dh,
                               std::int64_t hs) {
  using A = math::Act<T>;
  const T* __restrict gi = gates;
  const T* __restrict gf = gates + hs;
  const T* __restrict gg = gates + 2 * hs;
  const T* __restrict go = gates + 3 * hs;
#pragma omp simd
  for (std::int64_t j = 0; j < hs; ++j) {
    const T i = gi[j], f = gf[j], g = gg[j], o = go[j];
    const T c = f * c_prev[j] + i * g;            // c_t = f∘c_{t-1} + i∘g
    const T tc = A::tanh(c);
    const T dct = dc[j] + dh[j] * o * (T(1) - tc * tc);  // h_t = o∘tanh(c_t)
    dz[j] = dct * g * i * (T(1) - i);             // i = σ(z_i)
    dz[hs + j] = dct * c_prev[j] * f * (T(1) - f);
    dz[2 * hs + j] = dct * i * (T(1) - g * g);    // g = tanh(z_g)
    dz[3 * hs + j] = dh[j] * tc * o * (T(1) - o);
    dc[j] = dct * f;
  }
}

template <typename T, bool kDropout>
void backward_impl(const LstmBackward<T>& a) {
  const std::int64_t B = a.B, T_ = a.T_, I = a.I, H = a.H, G4H = G * H;
  const Split split = split_for_chunks(H, a.unit_chunks);
  const UnitChunks& chunks = split.chunks;
  const bool packed = chunks.n > 1;
  ChunkedWeights<T> w(a.kernel, a.recurrent_kernel, I, H, packed);
  const bool panels = use_packed_step() && rows_per_part(split, B) > 1;
  // Uᵀ's columns of each chunk: dh[:, chunk] = dz · U[chunk, :]ᵀ.
  StepWeights<T> ut_panels(chunks, panels ? G4H : 0, [&](int k) { return chunks.size(k); });
  const std::vector<std::int64_t> first_valid = first_valid_steps(a.mask, B, T_, a.reverse);

  Buffer<T> dz(B * T_ * G4H), dh_total(B * H), dh_prev(B * H);
  T* dh = a.dh0;  // the carried gradients live in the outputs and end as dh0, dc0
  T* dc = a.dc0;
  for (std::int64_t k = 0; k < B * H; ++k) {
    dh[k] = a.dh_last ? a.dh_last[k] : T(0);
    dc[k] = a.dc_last ? a.dc_last[k] : T(0);
  }

  // Phase A: the gate gradients of step t for what this thread owns.
  auto gates_grad = [&](std::int64_t s, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const bool valid = !a.mask || a.mask[b * T_ + t];
        const std::int64_t row = b * T_ + t;
        T* dht = dh_total.get() + b * H + u0;
        const T* dhc = dh + b * H + u0;
        // y_t is h_t at valid steps, and the carried h_t at masked ones after the first valid.
        const bool y_uses_h = valid || (!a.zero_output_for_mask && s > first_valid[b]);
        if (a.dy && y_uses_h) {
          const T* dyt = a.dy + row * H + u0;
          for (std::int64_t j = 0; j < hs; ++j) dht[j] = dhc[j] + dyt[j];
        } else {
          std::memcpy(dht, dhc, hs * sizeof(T));
        }
        T* dzr = dz.get() + row * G4H + G * u0;
        if (valid) {
          lstm_cell_backward<T>(dzr, dc + b * H + u0, a.gates + row * G4H + G * u0,
                                a.c_in + row * H + u0, dht, hs);
        } else {
          std::fill(dzr, dzr + G * hs, T(0));  // a masked step passes dh, dc through unchanged
        }
      }
    }
  };
  // Phase B: dh_{t-1} = (dz_t · Uᵀ) ∘ dropout_mask for this thread's units (after the barrier:
  // it reads every unit's dz_t).
  auto carry = [&](std::int64_t, std::int64_t t, const Part& p) {
    for (int k = p.k0; k < chunks.n; k += p.dk) {
      const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      const T* dz_rows = dz.get() + (p.b0 * T_ + t) * G4H;
      T* dh_rows = dh_prev.get() + p.b0 * H + u0;
      if (panels) {
        ut_panels.multiply(k, p.b1 - p.b0, dz_rows, T_ * G4H, dh_rows, H, false);
      } else {
        step_gemm<T>(true, p.b1 - p.b0, hs, G4H, dz_rows, T_ * G4H, w.U + u0 * G4H, G4H, T(0),
                     dh_rows, H);
      }
      for (std::int64_t b = p.b0; b < p.b1; ++b) {
        const bool valid = !a.mask || a.mask[b * T_ + t];
        T* d = dh + b * H + u0;
        const T* src = valid ? dh_prev.get() + b * H + u0 : dh_total.get() + b * H + u0;
        if (kDropout && valid) {
          const T* m = a.dropout_mask + b * H + u0;
          for (std::int64_t j = 0; j < hs; ++j) d[j] = src[j] * m[j];
        } else {
          std::memcpy(d, src, hs * sizeof(T));
        }
      }
    }
  };
  // After the loop, the time-independent products over all B·T rows at once.
  const std::int64_t R = B * T_, XI = a.ids ? 0 : I, XH = XI + 1 + H;
  Buffer<T> dWbU((I + 1 + H) * G4H);  // [dW; db; dU] in the chunked column order
  Buffer<T> dP(a.ids ? a.V * G4H : 0);  // token inputs: dz summed by id
  run_team([&](const Team& team) {
    const int tid = team.tid, nth = team.nth;
    if (packed) {
      // The step loop reads U's rows of this thread's units; dx (after the loop) all of W.
      const Part p = step_part(split, B, tid, nth);
      for (int k = p.k0; k < chunks.n; k += p.dk) {
        pack_rows(w.U_mut(), a.recurrent_kernel, chunks.begin(k), chunks.end(k), H, G, chunks);
        if (panels) ut_panels.pack(k, w.U + chunks.begin(k) * G4H, G4H, true);
      }
      auto [r0, r1] = team_share(I, tid, nth);
      pack_rows(w.W_mut(), a.kernel, r0, r1, H, G, chunks);
    } else if (panels) {  // one chunk shared by every thread: pack it together
      ut_panels.pack_share(0, w.U, G4H, true, tid, nth);
      team.barrier();
    }
    time_loop(split, team, B, T_, a.reverse, /*backward=*/true, gates_grad, carry);
    team.barrier();
    if (a.ids) {
      token_backward<T>(team, dP.get(), dz.get(), G4H, a.ids, R, a.V, a.table, I, w.W, G4H, G4H,
                        a.dtable, dWbU.get(), G4H);
    } else {
      team_gemm<T>(tid, nth, false, true, R, I, G4H, T(1), dz.get(), G4H, w.W, G4H, T(0), a.dx,
                   I);
    }
    // [dW; db; dU] = [x | 1 | h_in]ᵀ·dz, or its [db; dU] rows with token inputs
    team_gemm<T>(tid, nth, true, false, XH, G4H, R, T(1), a.xh, XH, dz.get(), G4H, T(0),
                 dWbU.get() + (I - XI) * G4H, G4H);
    team.barrier();
    // Rows [r0, r1) of [dW; db; dU] back to Keras's column order, into the three outputs.
    auto [r0, r1] = team_share(I + 1 + H, tid, nth);
    auto unpack_rows = [&](T* dst, std::int64_t first, std::int64_t count) {
      const std::int64_t lo = std::max(r0, first), hi = std::min(r1, first + count);
      for (int k = 0; k < chunks.n && lo < hi; ++k)
        unpack_chunk(dst, dWbU.get() + first * G4H, lo - first, hi - first, H, G, chunks, k);
    };
    unpack_rows(a.dkernel, 0, I);
    unpack_rows(a.dbias, I, 1);
    unpack_rows(a.drecurrent_kernel, I + 1, H);
  });
}

}  // namespace

template <typename T>
void lstm_forward(const LstmForward<T>& a) {
  if (a.dropout_mask) forward_impl<T, true>(a); else forward_impl<T, false>(a);
}

template <typename T>
void lstm_backward(const LstmBackward<T>& a) {
  if (a.dropout_mask) backward_impl<T, true>(a); else backward_impl<T, false>(a);
}

template void lstm_forward<float>(const LstmForward<float>&);
template void lstm_forward<double>(const LstmForward<double>&);
template void lstm_backward<float>(const LstmBackward<float>&);
template void lstm_backward<double>(const LstmBackward<double>&);

}  // namespace pyseq::cpu::PYSEQ_ISA
