// Conv1D forward and backward, channels-last. Compiled once per ISA level (see isa.h).
// Legend: B batch, T steps in, T' steps out, C channels, F filters, K kernel width, G groups,
// s stride, d dilation, pl left padding; cg = C/G, fg = F/G.
//
// Forward:  y[t'] = bias + Σ_k x[t'·s + k·d − pl] · kernel[k]   (per group, x zero outside [0,T))
// No im2col: with G = 1 and d = 1 the K taps of output row t' read K·C consecutive numbers of x,
// x[(t'·s − pl)·C ...], so the whole layer is ONE product of a matrix whose rows overlap in
// memory (leading dimension s·C, row length K·C) by the kernel seen as (K·C, F). The BLAS refuses
// such a leading dimension, so this product runs on the register-blocked kernel below (the kernel
// packed into panels as packed_gemm.h does), which reads A in place. Output rows near the padding
// (whose taps fall outside x) take one clipped BLAS product per tap. Other cases: one packed
// product per (tap, group) over the rows where that tap is inside x, or a direct loop when a
// group has few channels or filters (depthwise).
//
// Backward: dbias = Σ dy;  dkernel[k] = Σ_t' x[t'·s + k·d − pl]ᵀ · dy[t'] (with G = 1, d = 1 the
// merged product transposed, x read in place, or from a per-row copy in blocks of channels where
// its rows are long (dkernel_packed); otherwise one BLAS product per tap and group, x read in
// place with leading dimension s·C);  dx: with s = 1, the "full" convolution
// dx[u] = Σ_j dy[u + j·d − ((K−1)·d − pl)] · kernelᵀ[K−1−j], i.e. the forward kernel run on dy
// with the kernel flipped and transposed; with s > 1 each tap scatters dy[t'] · kernel[k]ᵀ into
// dx[t'·s + k·d − pl] (rows s apart, the output's leading dimension s·C).
#include "conv1d.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
#include <immintrin.h>
#endif

#include "blas.h"
#include "packed_gemm.h"
#include "rnn_common.h"

#ifndef PYSEQ_ISA
#error "PYSEQ_ISA must name the ISA namespace this file is compiled for"
#endif

namespace pyseq::cpu::PYSEQ_ISA {

namespace {

using i64 = std::int64_t;

i64 floor_div(i64 a, i64 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
i64 ceil_div(i64 a, i64 b) { return -floor_div(-a, b); }

// One convolution y (B, To, Co) = conv(x (B, Ti, Ci), w (K, Ci/G, Co)); forward's, or backward's
// dx = conv(dy, flipped kernel) with s = 1.
struct Geom {
  i64 B, Ti, Ci, Co, K, To, s, d, G, pl;
  i64 cg() const { return Ci / G; }
  i64 fg() const { return Co / G; }
  // Output rows [first, second) whose tap k reads inside x: 0 <= t'·s + k·d − pl < Ti.
  std::pair<i64, i64> tap_rows(i64 k) const {
    const i64 off = k * d - pl;
    return {std::clamp<i64>(ceil_div(-off, s), 0, To),
            std::clamp<i64>(floor_div(Ti - 1 - off, s) + 1, 0, To)};
  }
};

enum class Path { merged, panels, direct };

// merged: one product with the K taps side by side (G = 1, d = 1); panels: a packed product per
// (tap, group); direct: loops, when a group's product would be too thin for the micro-kernel.
Path choose_path(const Geom& g) {
  if (g.fg() < 8 || (g.cg() < 8 && !(g.G == 1 && g.d == 1))) return Path::direct;
  return g.G == 1 && g.d == 1 ? Path::merged : Path::panels;
}

// ---- products against packed panels ----------------------------------------------------------
// C (M, N) (+)= A · W with W packed into column panels (packed_gemm.h's pack_panels) and A read
// in place: element (m, p) of A at A[m·rs + p·ps]. Forward and dx read A row-major (ps = 1) with
// rows that overlap (rs = s·C < K·C); dkernel reads it transposed (rs = 1, ps = s·C). The BLAS
// accepts neither layout. The register block is 12 rows × 2 vectors (or 8 × 3 for the wide
// panels, 6 × 4 for float's 64-wide ones) on AVX-512: 24 accumulators, fewer loads per FMA than
// packed_gemm's 8 × 2 (measured: B1 C64 T256 K3 F64 forward on one thread 63 -> 45 µs).
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
template <int NV> constexpr int kRows = NV == 2 ? 12 : NV == 4 ? 6 : 8;
#else
template <int NV> constexpr int kRows = kRowBlock;
#endif

#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2

// float on AVX-512 (MR_ rows × NV vectors, 12 × 2 or 6 × 4) written with intrinsics: GCC's form
// of the generic loop below keeps the twelve row addresses in spilled registers and moves them
// back through xmm registers (port 0, an FMA port) on every step. Here row m of A sits at base
// m / 4 plus (m % 4) strides, three bases and the stride in registers (rows one number apart
// when !kUnitP). Measured: the forward at B32 C256 T1024 K5 F256 71.5 -> 69 ms, B32 C32 T500 K7
// F32 0.79 -> 0.73 ms.
template <int MR_, int NV, bool kUnitP>
inline void micro_f32(const float* __restrict A, i64 rs, i64 ps, const float* __restrict panel,
                      i64 kc, float* __restrict C, i64 ldc, i64 nr, bool accumulate,
                      const float* init) {
  static_assert(MR_ <= 12, "rows are addressed from three bases of four");
  __mmask16 kv[NV];
  for (int v = 0; v < NV; ++v) {
    const i64 lanes = std::clamp<i64>(nr - 16 * v, 0, 16);
    kv[v] = lanes == 16 ? __mmask16(0xFFFF) : __mmask16((1u << lanes) - 1);
  }
  __m512 c[MR_][NV];
#pragma GCC unroll 12
  for (int m = 0; m < MR_; ++m) {
    const float* src = accumulate ? C + m * ldc : init;
    for (int v = 0; v < NV; ++v)
      c[m][v] = src ? _mm512_maskz_loadu_ps(kv[v], src + 16 * v) : _mm512_setzero_ps();
  }
  const i64 R = (kUnitP ? rs : 1) * i64(sizeof(float)), R3 = 3 * R;
  const i64 step = (kUnitP ? 1 : ps) * i64(sizeof(float));
  const char* b0 = reinterpret_cast<const char*>(A);
  const char* b1 = b0 + 4 * R;
  const char* b2 = b0 + 8 * R;
#pragma GCC unroll 2
  for (i64 p = 0; p < kc; ++p) {
    __m512 w[NV];
    for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_ps(panel + 16 * v);
    panel += 16 * NV;
#pragma GCC unroll 12
    for (int m = 0; m < MR_; ++m) {
      const char* b = m < 4 ? b0 : m < 8 ? b1 : b2;
      const int j = m & 3;
      const char* a = j == 0 ? b : j == 1 ? b + R : j == 2 ? b + 2 * R : b + R3;
      const __m512 av = _mm512_set1_ps(*reinterpret_cast<const float*>(a));
      for (int v = 0; v < NV; ++v) c[m][v] = _mm512_fmadd_ps(av, w[v], c[m][v]);
    }
    b0 += step;
    b1 += step;
    b2 += step;
  }
#pragma GCC unroll 12
  for (int m = 0; m < MR_; ++m)
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(C + m * ldc + 16 * v, kv[v], c[m][v]);
}
#endif

template <typename T, int NV, int MR_, bool kUnitP>
inline void micro_kernel_s(int mr, const T* __restrict A, i64 rs, i64 ps,
                           const T* __restrict panel, i64 kc, T* __restrict C, i64 ldc, i64 nr,
                           bool accumulate, const T* init) {
  if constexpr (MR_ > 1) {
    if (mr < MR_) {
      micro_kernel_s<T, NV, MR_ - 1, kUnitP>(mr, A, rs, ps, panel, kc, C, ldc, nr, accumulate, init);
      return;
    }
  }
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
  if constexpr (std::is_same_v<T, float> && (NV == 2 || NV == 4)) {
    micro_f32<MR_, NV, kUnitP>(A, rs, ps, panel, kc, C, ldc, nr, accumulate, init);
    return;
  }
#endif
  constexpr int NR = PanelShape<T, NV>::NR;
  T acc[MR_][NR];
  for (int m = 0; m < MR_; ++m)
    for (int j = 0; j < NR; ++j)
      acc[m][j] = j >= nr ? T(0) : accumulate ? C[m * ldc + j] : init ? init[j] : T(0);
#pragma GCC unroll 4
  for (i64 p = 0; p < kc; ++p) {
    const T* __restrict b = panel + p * NR;
#pragma GCC unroll 16
    for (int m = 0; m < MR_; ++m) {
      const T a = kUnitP ? A[m * rs + p] : A[p * ps + m];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[m][j] += a * b[j];
    }
  }
  for (int m = 0; m < MR_; ++m)
    for (i64 j = 0; j < nr; ++j) C[m * ldc + j] = acc[m][j];
}

// The whole product: K in blocks of KC, panels, row blocks. Long blocks: a row block's stretch of
// A (MR rows that mostly overlap) stays in L1 while the panel streams from L2, and each block of
// C is loaded and stored once per KC. KC = 2048 against the earlier 64 KiB panel slices (256 or
// 512 steps): B32 C256 T1024 K5 F256 forward 65.8 -> 60.5 ms (float, AVX-512), 113.5 -> 107.9 ms
// on AVX2, 151 -> 149 ms in float64; B8 C1024 T512 K5 F256 (K·C = 5120) 35.0 -> 32.8 ms.
// Without `accumulate`, C starts from `init` (N numbers, every row; the bias) or zeros.
template <typename T, int NV, bool kUnitP>
void panel_gemm(i64 M, i64 N, i64 R, const T* A, i64 rs, i64 ps, const T* packed, T* C, i64 ldc,
                bool accumulate, const T* init = nullptr) {
  constexpr int NR = PanelShape<T, NV>::NR, MR = kRows<NV>;
  constexpr i64 KC = 2048;
  for (i64 k0 = 0; k0 < R; k0 += KC) {
    const i64 kc = std::min(KC, R - k0);
    const bool acc = accumulate || k0 > 0;
    for (i64 n0 = 0; n0 < N; n0 += NR) {
      const T* panel = packed + n0 * R + k0 * NR;
      const i64 nr = std::min<i64>(NR, N - n0);
      for (i64 m0 = 0; m0 < M; m0 += MR) {
        const int mr = static_cast<int>(std::min<i64>(MR, M - m0));
        micro_kernel_s<T, NV, MR, kUnitP>(mr, A + m0 * rs + k0 * ps, rs, ps, panel, kc,
                                          C + m0 * ldc + n0, ldc, nr, acc, init ? init + n0 : nullptr);
      }
    }
  }
}

// dy (M, F) into column panels as pack_panels<T, 2> lays them out, read once row by row; with
// db, also db += Σ_t dy[t] (dbias's rows, while they pass).
template <typename T>
void pack_dy(T* dst, const T* dy, i64 M, i64 F, T* db) {
  constexpr int NR = PanelShape<T, 2>::NR;
  for (i64 t = 0; t < M; ++t) {
    const T* __restrict src = dy + t * F;
    for (i64 n0 = 0; n0 < F; n0 += NR) {
      T* __restrict row = dst + n0 * M + t * NR;
      const i64 nr = std::min<i64>(NR, F - n0);
      if (nr == NR) {
#pragma omp simd
        for (int j = 0; j < NR; ++j) row[j] = src[n0 + j];
      } else {
        for (i64 j = 0; j < nr; ++j) row[j] = src[n0 + j];
        for (i64 j = nr; j < NR; ++j) row[j] = T(0);
      }
    }
    if (db) {
#pragma omp simd
      for (i64 f = 0; f < F; ++f) db[f] += src[f];
    }
  }
}

// dW (R, F) += Aᵀ · dy for A (M, R) read in place with leading dimension lda (the merged taps:
// row t' of A = K·C numbers of x from step t'·s − pl) and dy (M, F); `pack` holds
// packed_size<T, 2>(M, F) numbers for dy's panels.
template <typename T>
void dkernel_merged(T* dW, const T* A, i64 lda, i64 R, const T* dy, i64 M, i64 F, T* pack, T* db) {
  pack_dy(pack, dy, M, F, db);
  panel_gemm<T, 2, false>(R, F, M, A, 1, lda, pack, dW, F, true);
}

// The same product with x packed first: dW[(k, c), f] += Σ_p x[u0 + p·s + k, c] · dy[p, f] for
// p < M, x rows u0 ... (x from batch row start xb, C channels). x is copied into blocks of MR
// channels (block cb: nu rows × MR, row u at (cb·nu + u)·MR), so that the product's A operand
// is read MR consecutive numbers per step, as the forward reads its rows, instead of MR numbers
// from each of kc rows C apart, which with rows of 512 bytes or more fall on a few L1 sets and
// miss (B32 C256 T1024 K5 F256 backward 147 -> 139 ms; with rows of 128-256 bytes the copy cost
// more than it saved). The taps k of one block are the same packed rows shifted by k.
template <typename T>
void dkernel_packed(T* dW, const T* xb, i64 u0, i64 C, i64 s, i64 K, const T* dy, i64 M, i64 F,
                    T* pack, T* xpack, T* db) {
  constexpr int NR = PanelShape<T, 2>::NR, MR = kRows<2>;
  constexpr i64 KC = 16384 / (NR * static_cast<i64>(sizeof(T))) * 4;
  pack_dy(pack, dy, M, F, db);
  const i64 nu = (M - 1) * s + K, ncb = (C + MR - 1) / MR;
  for (i64 u = 0; u < nu; ++u) {
    const T* src = xb + (u0 + u) * C;
    for (i64 cb = 0; cb < ncb; ++cb) {
      const i64 w = std::min<i64>(MR, C - cb * MR);
      std::memcpy(xpack + (cb * nu + u) * MR, src + cb * MR, w * sizeof(T));
    }
  }
  for (i64 p0 = 0; p0 < M; p0 += KC) {
    const i64 kc = std::min(KC, M - p0);
    for (i64 n0 = 0; n0 < F; n0 += NR) {
      const T* panel = pack + n0 * M + p0 * NR;
      const i64 nr = std::min<i64>(NR, F - n0);
      for (i64 cb = 0; cb < ncb; ++cb) {
        const int mr = static_cast<int>(std::min<i64>(MR, C - cb * MR));
        const T* xa = xpack + (cb * nu + p0 * s) * MR;
        for (i64 k = 0; k < K; ++k)
          micro_kernel_s<T, 2, MR, false>(mr, xa + k * MR, 1, s * MR, panel, kc,
                                          dW + (k * C + cb * MR) * F + n0, F, nr, true, nullptr);
      }
    }
  }
}

// `sets` weight matrices of (R, N) each, packed into column panels for packed_gemm; wide panels
// where they waste under 5 % of the columns in padding (as StepWeights chooses). float on
// AVX-512 with N a multiple of 64: 64-wide panels and 6-row blocks, 10 loads per 24 FMAs instead
// of 14 (B32 C256 T1024 K5 F256 forward 67.0 -> 66.0 ms; dkernel_packed in this shape measured
// slower and stays 12 × 32).
template <typename T>
class Panels {
 public:
  Panels(i64 sets, i64 R, i64 N)
      : sets_(sets), R_(R), N_(N), nv_(choose_nv(N)),
        nr_(nv_ == 4 ? kNRq : nv_ == 3 ? kNRw : kNRn),
        per_set_(nv_ == 4 ? packed_size<T, 4>(R, N)
                 : nv_ == 3 ? packed_size<T, kWideVectors>(R, N) : packed_size<T, 2>(R, N)),
        buf_(sets > 0 ? sets * per_set_ : 1) {}
  // This thread's share of every set's panels; src(set, &ptr, &ld, &transposed) names set's
  // source: (R, N) row-major, or its transpose stored (N, R). Call from every member, then meet.
  template <class Src>
  void pack_share(const Team& team, Src&& src) {
    const i64 per = (N_ + nr_ - 1) / nr_;
    auto [p0, p1] = team_share(sets_ * per, team.tid, team.nth);
    for (i64 p = p0; p < p1; ++p) {
      const i64 set = p / per, n0 = (p % per) * nr_;
      const T* m;
      i64 ld;
      bool tr;
      src(set, &m, &ld, &tr);
      T* dst = buf_.get() + set * per_set_;
      if (nv_ == 4) pack_panels<T, 4>(dst, m, ld, R_, N_, tr, n0, n0 + nr_);
      else if (nv_ == 3) pack_panels<T, kWideVectors>(dst, m, ld, R_, N_, tr, n0, n0 + nr_);
      else pack_panels<T, 2>(dst, m, ld, R_, N_, tr, n0, n0 + nr_);
    }
  }
  // C (M, N) (+)= A (M, R) · set; A's rows may overlap (lda < R).
  void multiply(i64 set, i64 M, const T* A, i64 lda, T* C, i64 ldc, bool accumulate,
                const T* init = nullptr) {
    if (M <= 0) return;
    const T* p = buf_.get() + set * per_set_;
    if constexpr (kQuad) {
      if (nv_ == 4) {
        panel_gemm<T, 4, true>(M, N_, R_, A, lda, 1, p, C, ldc, accumulate, init);
        return;
      }
    }
    if (nv_ == 3) panel_gemm<T, kWideVectors, true>(M, N_, R_, A, lda, 1, p, C, ldc, accumulate, init);
    else panel_gemm<T, 2, true>(M, N_, R_, A, lda, 1, p, C, ldc, accumulate, init);
  }

 private:
#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
  static constexpr bool kQuad = std::is_same_v<T, float>;
#else
  static constexpr bool kQuad = false;
#endif
  static constexpr int kNRq = PanelShape<T, 4>::NR;
  static constexpr int kNRw = PanelShape<T, kWideVectors>::NR;
  static constexpr int kNRn = PanelShape<T, 2>::NR;
  static int choose_nv(i64 N) {  // vectors per panel row: 4, 3 (kWideVectors) or 2
    if (kQuad && N % kNRq == 0) return 4;
    return ((N + kNRw - 1) / kNRw * kNRw - N) * 20 < N ? 3 : 2;
  }
  i64 sets_, R_, N_;
  int nv_;
  i64 nr_, per_set_;
  Buffer<T> buf_;
};

// Rows [ta, te) of y = bias (or zeros).
template <typename T>
void init_rows(T* y, const T* bias, i64 ta, i64 te, i64 Co) {
  for (i64 r = ta; r < te; ++r) {
    T* out = y + r * Co;
    if (bias) std::memcpy(out, bias, Co * sizeof(T));
    else std::fill(out, out + Co, T(0));
  }
}

// Rows [ta, te) of batch row b of y = conv(x, w) + bias. `panels` holds w as set 0 = (K·Ci, Co)
// (merged) or set k·G + g = w[k, :, group g] (panels); unused by the direct path.
template <typename T>
void conv_rows(const Geom& g, Path path, T* y, const T* x, const T* w, const T* bias,
               Panels<T>& panels, i64 b, i64 ta, i64 te) {
  T* yb = y + b * g.To * g.Co;
  const T* xb = x + b * g.Ti * g.Ci;
  const i64 Ci = g.Ci, Co = g.Co, cg = g.cg(), fg = g.fg(), lda = g.s * Ci;
  if (path == Path::merged) {
    // Interior rows: every tap inside x; one product over K·Ci.
    const i64 lo = std::max(ta, g.tap_rows(0).first);
    const i64 hi = std::min(te, g.tap_rows(g.K - 1).second);
    i64 e0 = te, e1 = te;  // edge rows after the interior
    i64 edge_end = ta;     // edge rows before it: [ta, edge_end)
    if (lo < hi) {
      // The bias seeds the accumulators (B32 C32 T500 K7 F32 forward 0.71 -> 0.68 ms, against
      // writing it into y first and adding to it).
      panels.multiply(0, hi - lo, xb + (lo * g.s - g.pl) * Ci, lda, yb + lo * Co, Co, false, bias);
      edge_end = lo;
      e0 = hi;
    } else {
      edge_end = te;
    }
    for (auto [ra, rb] : {std::pair<i64, i64>{ta, edge_end}, std::pair<i64, i64>{e0, e1}}) {
      if (ra >= rb) continue;
      init_rows(yb, bias, ra, rb, Co);
      for (i64 k = 0; k < g.K; ++k) {
        auto [t0, t1] = g.tap_rows(k);
        t0 = std::max(t0, ra);
        t1 = std::min(t1, rb);
        if (t0 < t1)
          blas::gemm<T>(false, false, t1 - t0, Co, Ci, T(1), xb + (t0 * g.s + k * g.d - g.pl) * Ci,
                        lda, w + k * Ci * Co, Co, T(1), yb + t0 * Co, Co);
      }
    }
    return;
  }
  init_rows(yb, bias, ta, te, Co);
  if (path == Path::panels) {
    for (i64 k = 0; k < g.K; ++k) {
      auto [t0, t1] = g.tap_rows(k);
      t0 = std::max(t0, ta);
      t1 = std::min(t1, te);
      if (t0 >= t1) continue;
      for (i64 gr = 0; gr < g.G; ++gr)
        panels.multiply(k * g.G + gr, t1 - t0, xb + (t0 * g.s + k * g.d - g.pl) * Ci + gr * cg, lda,
                        yb + t0 * Co + gr * fg, Co, true);
    }
    return;
  }
  // direct
  for (i64 r = ta; r < te; ++r) {
    T* __restrict out = yb + r * Co;
    for (i64 k = 0; k < g.K; ++k) {
      const i64 u = r * g.s + k * g.d - g.pl;
      if (u < 0 || u >= g.Ti) continue;
      const T* __restrict xr = xb + u * Ci;
      const T* __restrict wk = w + k * cg * Co;
      if (cg == 1 && fg == 1) {  // depthwise, one filter per channel
#pragma omp simd
        for (i64 c = 0; c < Co; ++c) out[c] += xr[c] * wk[c];
        continue;
      }
      for (i64 gr = 0; gr < g.G; ++gr)
        for (i64 i = 0; i < cg; ++i) {
          const T xv = xr[gr * cg + i];
          const T* __restrict wr = wk + i * Co + gr * fg;
          T* __restrict o = out + gr * fg;
#pragma omp simd
          for (i64 j = 0; j < fg; ++j) o[j] += xv * wr[j];
        }
    }
  }
}

// Calls rows(b, ta, te) for this thread's share of the B·n rows of a (B, n, ...) output.
template <class Rows>
void for_my_rows(const Team& team, i64 B, i64 n, Rows&& rows) {
  auto [r0, r1] = team_share(B * n, team.tid, team.nth, 8);
  for (i64 r = r0; r < r1;) {
    const i64 b = r / n, ta = r % n, te = std::min(n, ta + (r1 - r));
    rows(b, ta, te);
    r += te - ta;
  }
}

// The team packs w for `path` (forward layout, w (K, Ci/G, Co)) and meets.
template <typename T>
void pack_forward(const Team& team, const Geom& g, Path path, const T* w, Panels<T>& panels) {
  if (path == Path::direct) return;
  const i64 cg = g.cg(), fg = g.fg(), Co = g.Co;
  panels.pack_share(team, [&](i64 set, const T** m, i64* ld, bool* tr) {
    if (path == Path::merged) {
      *m = w;
    } else {
      const i64 k = set / g.G, gr = set % g.G;
      *m = w + k * cg * Co + gr * fg;
    }
    *ld = Co;
    *tr = false;
  });
  team.barrier();
}

template <typename T>
Panels<T> make_panels(const Geom& g, Path path) {
  switch (path) {
    case Path::merged: return Panels<T>(1, g.K * g.Ci, g.Co);
    case Path::panels: return Panels<T>(g.K * g.G, g.cg(), g.fg());
    default: return Panels<T>(0, 1, 1);
  }
}

Geom forward_geom(const Conv1dShape& s) {
  return {s.B, s.T, s.C, s.F, s.K, s.T_out, s.stride, s.dilation, s.groups, s.pad_left};
}

}  // namespace

template <typename T>
void conv1d_forward(const Conv1dForward<T>& a) {
  const Geom g = forward_geom(a.s);
  const Path path = choose_path(g);
  // Batch smaller than the team (batch 1): each thread packs the whole kernel for itself and
  // starts without meeting the others.
  const bool private_panels = g.B < get_num_threads();
  Panels<T> panels = make_panels<T>(g, private_panels ? Path::direct : path);
  run_team([&](const Team& team) {
    if (private_panels) {
      Panels<T> mine = make_panels<T>(g, path);
      if (path != Path::direct) pack_forward(Team{0, 1, team.bar}, g, path, a.kernel, mine);
      for_my_rows(team, g.B, g.To, [&](i64 b, i64 ta, i64 te) {
        conv_rows(g, path, a.y, a.x, a.kernel, a.bias, mine, b, ta, te);
      });
      return;
    }
    pack_forward(team, g, path, a.kernel, panels);
    for_my_rows(team, g.B, g.To, [&](i64 b, i64 ta, i64 te) {
      conv_rows(g, path, a.y, a.x, a.kernel, a.bias, panels, b, ta, te);
    });
  });
}

template <typename T>
void conv1d_backward(const Conv1dBackward<T>& a) {
  const Geom g = forward_geom(a.s);
  const i64 B = g.B, C = g.Ci, F = g.Co, K = g.K, cg = g.cg(), fg = g.fg(), To = g.To, Ti = g.Ti;
  const Path fpath = choose_path(g);
  // dx = conv(dy, kernel flipped in time and transposed per group) when s = 1:
  // wt[j, f', gr·cg + i] = kernel[K−1−j, i, gr·fg + f'], wt (K, fg, C).
  const bool gather = g.s == 1;
  const Geom gx{B, To, F, C, K, Ti, 1, g.d, g.G, (K - 1) * g.d - g.pl};
  const Path xpath = gather ? choose_path(gx) : fpath;
  Buffer<T> wt(gather ? K * fg * C : 1);
  // s > 1: set k·G + gr = kernel[k, :, group gr]ᵀ (fg, cg) for the scatter products.
  Panels<T> xpanels = gather ? make_panels<T>(gx, xpath)
                             : (xpath == Path::direct ? Panels<T>(0, 1, 1) : Panels<T>(K * g.G, fg, cg));
  const int nth_max = std::max(1, get_num_threads());
  const i64 part = K * cg * F + F;  // per-thread partial [dkernel | dbias]
  Buffer<T> parts(nth_max * part);

  run_team([&](const Team& team) {
    // ---- weights for dx
    if (gather) {
      auto [j0, j1] = team_share(K * fg, team.tid, team.nth);
      for (i64 jf = j0; jf < j1; ++jf) {
        const i64 j = jf / fg, f = jf % fg;
        T* row = wt.get() + jf * C;
        for (i64 gr = 0; gr < g.G; ++gr)
          for (i64 i = 0; i < cg; ++i) row[gr * cg + i] = a.kernel[((K - 1 - j) * cg + i) * F + gr * fg + f];
      }
      team.barrier();
      pack_forward(team, gx, xpath, static_cast<const T*>(wt.get()), xpanels);
    } else if (xpath != Path::direct) {
      xpanels.pack_share(team, [&](i64 set, const T** m, i64* ld, bool* tr) {
        const i64 k = set / g.G, gr = set % g.G;
        *m = a.kernel + k * cg * F + gr * fg;  // (cg, fg) with ld F: packed transposed
        *ld = F;
        *tr = true;
      });
      team.barrier();
    }
    // ---- dx: rows [ua, ue) of batch row b
    auto dx_rows = [&](i64 b, i64 ua, i64 ue) {
      if (gather) {
        conv_rows(gx, xpath, a.dx, a.dy, static_cast<const T*>(wt.get()), static_cast<const T*>(nullptr),
                  xpanels, b, ua, ue);
        return;
      }
      T* dxb = a.dx + b * Ti * C;
      const T* dyb = a.dy + b * To * F;
      std::fill(dxb + ua * C, dxb + ue * C, T(0));
      for (i64 k = 0; k < K; ++k) {
        // rows t' with u = t'·s + k·d − pl in [ua, ue)
        const i64 off = k * g.d - g.pl;
        const i64 t0 = std::max<i64>(0, ceil_div(ua - off, g.s));
        const i64 t1 = std::min<i64>(To, ceil_div(ue - off, g.s));
        if (t0 >= t1) continue;
        if (xpath != Path::direct) {
          for (i64 gr = 0; gr < g.G; ++gr)
            xpanels.multiply(k * g.G + gr, t1 - t0, dyb + t0 * F + gr * fg, F,
                             dxb + (t0 * g.s + off) * C + gr * cg, g.s * C, true);
          continue;
        }
        for (i64 t = t0; t < t1; ++t) {
          const T* __restrict dyr = dyb + t * F;
          T* __restrict dxr = dxb + (t * g.s + off) * C;
          const T* __restrict wk = a.kernel + k * cg * F;
          if (cg == 1 && fg == 1) {  // depthwise, one filter per channel
#pragma omp simd
            for (i64 c = 0; c < C; ++c) dxr[c] += dyr[c] * wk[c];
            continue;
          }
          for (i64 gr = 0; gr < g.G; ++gr)
            for (i64 i = 0; i < cg; ++i) {
              const T* __restrict wr = wk + i * F + gr * fg;
              const T* __restrict d = dyr + gr * fg;
              T acc = 0;
#pragma omp simd reduction(+ : acc)
              for (i64 j = 0; j < fg; ++j) acc += d[j] * wr[j];
              dxr[gr * cg + i] += acc;
            }
        }
      }
    };
    // ---- dkernel and dbias: this thread's partial, rows [ta, te) of batch row b
    T* my = parts.get() + team.tid * part;
    std::fill(my, my + part, T(0));
    T* db = my + K * cg * F;
    // dy's panels for the merged product: at most one batch row's worth per call
    const i64 max_rows = std::min<i64>(To, (B * To + team.nth - 1) / team.nth + 8);
    Buffer<T> dy_pack(fpath == Path::merged ? packed_size<T, 2>(max_rows, F) : 1);
    const bool xpacked = C * static_cast<i64>(sizeof(T)) >= 512;
    Buffer<T> x_pack(fpath == Path::merged && xpacked ? ((max_rows - 1) * g.s + K) * (C + kRows<2>) : 1);
    auto dk_rows = [&](i64 b, i64 ta, i64 te) {
      const T* xb = a.x + b * Ti * C;
      const T* dyb = a.dy + b * To * F;
      auto sum_dbias = [&](i64 t0, i64 t1) {
        if (!a.dbias) return;
        for (i64 t = t0; t < t1; ++t) {
          const T* __restrict dyr = dyb + t * F;
#pragma omp simd
          for (i64 f = 0; f < F; ++f) db[f] += dyr[f];
        }
      };
      // merged: interior rows [lo, hi) in one product over the K taps side by side (dbias summed
      // while dy is packed for it), the edge rows (taps partly in the padding) per tap below.
      i64 lo = te, hi = te;
      if (fpath == Path::merged) {
        lo = std::max(ta, g.tap_rows(0).first);
        hi = std::min(te, g.tap_rows(K - 1).second);
        if (lo < hi && xpacked)
          dkernel_packed(my, xb, lo * g.s - g.pl, C, g.s, K, dyb + lo * F, hi - lo, F, dy_pack.get(),
                         x_pack.get(), a.dbias ? db : nullptr);
        else if (lo < hi)
          dkernel_merged(my, xb + (lo * g.s - g.pl) * C, g.s * C, K * C, dyb + lo * F, hi - lo, F,
                         dy_pack.get(), a.dbias ? db : nullptr);
        else
          lo = hi = te;
      }
      sum_dbias(ta, lo);
      sum_dbias(hi, te);
      for (i64 k = 0; k < K; ++k) {
        auto [t0, t1] = g.tap_rows(k);
        t0 = std::max(t0, ta);
        t1 = std::min(t1, te);
        if (t0 >= t1) continue;
        const i64 off = k * g.d - g.pl;
        if (fpath == Path::merged) {  // the rows outside [lo, hi): before, then after
          const i64 e0 = std::min(t1, lo), e1 = std::max(t0, hi);
          if (t0 < e0)
            blas::gemm<T>(true, false, C, F, e0 - t0, T(1), xb + (t0 * g.s + off) * C, g.s * C,
                          dyb + t0 * F, F, T(1), my + k * C * F, F);
          if (e1 < t1)
            blas::gemm<T>(true, false, C, F, t1 - e1, T(1), xb + (e1 * g.s + off) * C, g.s * C,
                          dyb + e1 * F, F, T(1), my + k * C * F, F);
          continue;
        }
        if (fpath != Path::direct) {
          for (i64 gr = 0; gr < g.G; ++gr)
            blas::gemm<T>(true, false, cg, fg, t1 - t0, T(1), xb + (t0 * g.s + off) * C + gr * cg,
                          g.s * C, dyb + t0 * F + gr * fg, F, T(1), my + k * cg * F + gr * fg, F);
          continue;
        }
        T* dk = my + k * cg * F;
        for (i64 t = t0; t < t1; ++t) {
          const T* __restrict xr = xb + (t * g.s + off) * C;
          const T* __restrict dyr = dyb + t * F;
          if (cg == 1 && fg == 1) {
#pragma omp simd
            for (i64 c = 0; c < F; ++c) dk[c] += xr[c] * dyr[c];
            continue;
          }
          for (i64 gr = 0; gr < g.G; ++gr)
            for (i64 i = 0; i < cg; ++i) {
              const T xv = xr[gr * cg + i];
              T* __restrict o = dk + i * F + gr * fg;
              const T* __restrict d = dyr + gr * fg;
#pragma omp simd
              for (i64 j = 0; j < fg; ++j) o[j] += xv * d[j];
            }
        }
      }
    };
    // Whole batch rows per thread when they share out evenly: dx then dkernel of one row while
    // its dy is still in cache. Otherwise each part over its own even share of rows.
    if (B % team.nth == 0) {
      auto [b0, b1] = team_share(B, team.tid, team.nth);
      for (i64 b = b0; b < b1; ++b) {
        dx_rows(b, 0, Ti);
        dk_rows(b, 0, To);
      }
    } else {
      for_my_rows(team, B, Ti, dx_rows);
      for_my_rows(team, B, To, dk_rows);
    }
    team.barrier();
    auto [e0, e1] = team_share(part, team.tid, team.nth, 16);
    for (i64 e = e0; e < e1; ++e) {
      T sum = 0;
      for (int p = 0; p < team.nth; ++p) sum += parts.get()[p * part + e];
      if (e < K * cg * F) a.dkernel[e] = sum;
      else if (a.dbias) a.dbias[e - K * cg * F] = sum;
    }
  });
}

template void conv1d_forward<float>(const Conv1dForward<float>&);
template void conv1d_forward<double>(const Conv1dForward<double>&);
template void conv1d_backward<float>(const Conv1dBackward<float>&);
template void conv1d_backward<double>(const Conv1dBackward<double>&);

}  // namespace pyseq::cpu::PYSEQ_ISA
