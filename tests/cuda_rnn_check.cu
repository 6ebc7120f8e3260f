// Host program for tests/test_cuda_compile.py: runs the recurrent families' CUDA step updates
// (csrc/cuda/rnn_cells.cuh: the same functions the step kernels call) on the host, in the order of
// the CUDA host code (lstm.cu, gru.cu, simple_rnn.cu: state set-up, x·W, one step update per
// processing position for every (b, j), the tail, the weight-gradient products), with plain loops
// where the GPU runs cuBLAS or the shared-memory products. float64; no GPU needed.
//
// Usage: cuda_rnn_check IN OUT. IN: 16 int64, then float64 arrays; OUT: float64 arrays.
//   sizes: mode (0 LSTM, 1 GRU reset_after, 2 SimpleRNN), B, T, I, H, reverse, zero_output_for_mask,
//          activation (SimpleRNN), then has_bias, has_h0, has_c0, has_mask, has_dropout, has_dy,
//          has_dh_T, has_dc_T
//   arrays: x, kernel, recurrent_kernel, then bias, h0, c0, mask (0/1), recurrent_dropout_mask,
//          dy, dh_T, dc_T where present
//   out: y, h_T, [c_T], dx, dkernel, drecurrent_kernel, dbias, dh0, [dc0]
#include <cstdint>
#include <vector>

#include "../csrc/cuda/rnn_cells.cuh"
#include "host_check_io.h"

using namespace pyseq::cuda;
using host_check::Vec;

namespace {

// C (m×n) = op(A)·op(B), row-major, the products the GPU hands to cuBLAS.
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const double* A, std::int64_t lda,
          const double* B, std::int64_t ldb, double* C, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t p = 0; p < k; ++p) s += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = s;
    }
}

void column_sums(double* out, const double* m, std::int64_t rows, std::int64_t n) {
  for (std::int64_t c = 0; c < n; ++c) {
    double s = 0;
    for (std::int64_t r = 0; r < rows; ++r) s += m[r * n + c];
    out[c] = s;
  }
}

// acc[g] = Σ_k rows[b·stride + k]·U[k, g·H + j]  (the forward step product of one thread)
template <int G>
void product_forward(double (&acc)[G], const double* rows, std::int64_t stride, const double* U, std::int64_t H,
                     std::int64_t b, std::int64_t j) {
  for (int g = 0; g < G; ++g) {
    acc[g] = 0;
    for (std::int64_t k = 0; k < H; ++k) acc[g] += rows[b * stride + k] * U[k * G * H + g * H + j];
  }
}

// Σ_c dz[b·stride + c]·U[j, c]  (the backward step product of one thread)
double product_backward(const double* dz, std::int64_t stride, const double* U, std::int64_t GH, std::int64_t b,
                        std::int64_t j) {
  double acc = 0;
  for (std::int64_t c = 0; c < GH; ++c) acc += dz[b * stride + c] * U[j * GH + c];
  return acc;
}

}  // namespace

int main(int argc, char** argv) {
  host_check::Input input;
  if (const int rc = host_check::read_input(argc, argv, &input)) return rc;
  const std::int64_t* p = input.p;
  const int mode = int(p[0]);
  const std::int64_t B = p[1], T = p[2], I = p[3], H = p[4];
  const bool reverse = p[5], zero_out = p[6];
  const auto act = static_cast<RnnActivation>(p[7]);
  const bool has_bias = p[8], has_h0 = p[9], has_c0 = p[10], has_mask = p[11], has_drop = p[12], has_dy = p[13],
             has_dh = p[14], has_dc = p[15];
  const std::int64_t G = mode == 0 ? 4 : mode == 1 ? 3 : 1, GH = G * H, BT = B * T;
  auto take = [&](std::int64_t n) { return input.take(n); };
  const Vec x = take(BT * I), W = take(I * GH), U = take(H * GH);
  const Vec bias = has_bias ? take(mode == 1 ? 2 * GH : GH) : Vec();
  const Vec h0 = has_h0 ? take(B * H) : Vec(), c0 = has_c0 ? take(B * H) : Vec();
  const std::vector<std::uint8_t> mask = has_mask ? input.take_mask(BT) : std::vector<std::uint8_t>();
  const Vec drop = has_drop ? take(B * H) : Vec();
  const Vec dy = has_dy ? take(BT * H) : Vec(), dh = has_dh ? take(B * H) : Vec(), dc = has_dc ? take(B * H) : Vec();
  if (!input.all_taken()) return 5;
  auto ptr = [](const Vec& a) { return a.empty() ? nullptr : a.data(); };
  const std::uint8_t* mp = has_mask ? mask.data() : nullptr;

  Vec y(BT * H), h_last(B * H), c_last(B * H), gates(BT * GH), h_in(BT * H), c_in(BT * H), hn(BT * H),
      h_prev(BT * H);
  std::vector<std::int32_t> first_valid(B);
  Vec dx(BT * I), dW(I * GH), dU(H * GH), db(mode == 1 ? 2 * GH : GH), dh0(B * H), dc0(B * H), dz(BT * GH),
      da(BT * GH);
  Vec out;
  auto emit = [&](const Vec& a) { out.insert(out.end(), a.begin(), a.end()); };

  for (std::int64_t e = 0; e < B * H; ++e)
    init_state_at(e, h_last.data(), mode == 0 ? c_last.data() : nullptr, h_in.data(), first_valid.data(), ptr(h0),
                  ptr(c0), mp, ptr(drop), int(T), H, reverse);
  gemm(false, false, BT, GH, I, x.data(), I, W.data(), GH, gates.data(), GH);  // x·W into the gate buffer
  for (std::int64_t e = 0; e < B * H; ++e) dh0[e] = has_dh ? dh[e] : 0.0, dc0[e] = has_dc ? dc[e] : 0.0;

  if (mode == 0) {
    LstmForward<double> a{y.data(), h_last.data(), c_last.data(), gates.data(), h_in.data(), c_in.data(),
                          first_valid.data(), x.data(), W.data(), U.data(), ptr(bias), ptr(h0), ptr(c0), mp, ptr(drop),
                          B, T, I, H, reverse, zero_out};
    for (int s = 0; s < T; ++s)
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t j = 0; j < H; ++j) {
          double acc[4];
          product_forward<4>(acc, h_in.data() + step_at(s, int(T), reverse) * H, T * H, U.data(), H, b, j);
          lstm_forward_cell(a, s, int(b), int(j), acc);
        }
    LstmBackward<double> g{dx.data(), dW.data(), dU.data(), db.data(), dh0.data(), dc0.data(), dz.data(), ptr(dy),
                           ptr(dh), ptr(dc), gates.data(), h_in.data(), c_in.data(), first_valid.data(), x.data(),
                           W.data(), U.data(), mp, ptr(drop), B, T, I, H, reverse, zero_out};
    for (int s = int(T) - 1; s >= 0; --s)
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t j = 0; j < H; ++j) {
          const double acc = s + 1 < T ? product_backward(dz.data() + step_at(s + 1, int(T), reverse) * GH, T * GH,
                                                          U.data(), GH, b, j) : 0.0;
          lstm_backward_cell<double, false>(g, s, int(b), int(j), acc);
        }
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < H; ++j)
        lstm_backward_cell<double, true>(
            g, 0, int(b), int(j), product_backward(dz.data() + step_at(0, int(T), reverse) * GH, T * GH, U.data(), GH, b, j));
    gemm(false, true, BT, I, GH, dz.data(), GH, W.data(), GH, dx.data(), I);
    gemm(true, false, I, GH, BT, x.data(), I, dz.data(), GH, dW.data(), GH);
    gemm(true, false, H, GH, BT, h_in.data(), H, dz.data(), GH, dU.data(), GH);
    column_sums(db.data(), dz.data(), BT, GH);
    emit(y), emit(h_last), emit(c_last), emit(dx), emit(dW), emit(dU), emit(db), emit(dh0), emit(dc0);
  } else if (mode == 1) {
    GruForward<double> a{y.data(), h_last.data(), gates.data(), hn.data(), h_prev.data(), h_in.data(),
                         first_valid.data(), x.data(), W.data(), U.data(), ptr(bias), ptr(h0), mp, ptr(drop),
                         B, T, I, H, reverse, zero_out};
    for (int s = 0; s < T; ++s)
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t j = 0; j < H; ++j) {
          double acc[3];
          product_forward<3>(acc, h_in.data() + step_at(s, int(T), reverse) * H, T * H, U.data(), H, b, j);
          gru_forward_cell(a, s, int(b), int(j), acc);
        }
    GruBackward<double> g{dx.data(), dW.data(), dU.data(), db.data(), dh0.data(), dz.data(), da.data(), ptr(dy),
                          ptr(dh), gates.data(), hn.data(), h_prev.data(), h_in.data(), first_valid.data(), x.data(),
                          W.data(), U.data(), mp, ptr(drop), B, T, I, H, reverse, zero_out};
    for (int s = int(T) - 1; s >= 0; --s)
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t j = 0; j < H; ++j) {
          const double acc = s + 1 < T ? product_backward(da.data() + step_at(s + 1, int(T), reverse) * GH, T * GH,
                                                          U.data(), GH, b, j) : 0.0;
          gru_backward_cell<double, false>(g, s, int(b), int(j), acc);
        }
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < H; ++j)
        gru_backward_cell<double, true>(
            g, 0, int(b), int(j), product_backward(da.data() + step_at(0, int(T), reverse) * GH, T * GH, U.data(), GH, b, j));
    gemm(false, true, BT, I, GH, dz.data(), GH, W.data(), GH, dx.data(), I);  // dz holds dgx here
    gemm(true, false, I, GH, BT, x.data(), I, dz.data(), GH, dW.data(), GH);
    gemm(true, false, H, GH, BT, h_in.data(), H, da.data(), GH, dU.data(), GH);
    column_sums(db.data(), dz.data(), BT, GH);
    column_sums(db.data() + GH, da.data(), BT, GH);
    emit(y), emit(h_last), emit(dx), emit(dW), emit(dU), emit(db), emit(dh0);
  } else {
    RnnForward<double> a{y.data(), h_last.data(), gates.data(), h_in.data(), first_valid.data(), x.data(), W.data(),
                         U.data(), ptr(bias), ptr(h0), mp, ptr(drop), act, B, T, I, H, reverse, zero_out};
    for (int s = 0; s < T; ++s)
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t j = 0; j < H; ++j) {
          double acc[1];
          product_forward<1>(acc, h_in.data() + step_at(s, int(T), reverse) * H, T * H, U.data(), H, b, j);
          rnn_forward_cell(a, s, int(b), int(j), acc);
        }
    RnnBackward<double> g{dx.data(), dW.data(), dU.data(), db.data(), dh0.data(), dz.data(), ptr(dy), ptr(dh),
                          gates.data(), h_in.data(), first_valid.data(), x.data(), W.data(), U.data(), mp, ptr(drop),
                          act, B, T, I, H, reverse, zero_out};
    for (int s = int(T) - 1; s >= 0; --s)
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t j = 0; j < H; ++j) {
          const double acc = s + 1 < T ? product_backward(dz.data() + step_at(s + 1, int(T), reverse) * GH, T * GH,
                                                          U.data(), GH, b, j) : 0.0;
          rnn_backward_cell<double, false>(g, s, int(b), int(j), acc);
        }
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < H; ++j)
        rnn_backward_cell<double, true>(
            g, 0, int(b), int(j), product_backward(dz.data() + step_at(0, int(T), reverse) * GH, T * GH, U.data(), GH, b, j));
    gemm(false, true, BT, I, GH, dz.data(), GH, W.data(), GH, dx.data(), I);
    gemm(true, false, I, GH, BT, x.data(), I, dz.data(), GH, dW.data(), GH);
    gemm(true, false, H, GH, BT, h_in.data(), H, dz.data(), GH, dU.data(), GH);
    column_sums(db.data(), dz.data(), BT, GH);
    emit(y), emit(h_last), emit(dx), emit(dW), emit(dU), emit(db), emit(dh0);
  }
  return host_check::write_output(argv, out);
}
