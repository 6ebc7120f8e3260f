// float32 products on AMX tiles, to float32 accuracy: each operand x is split into three bfloat16
// parts, x ≈ hi + mid + lo (each the round-to-nearest bfloat16 of what the previous parts leave,
// so |x - hi - mid - lo| <= 2^-24 |x|), and C += Σ A_s B_t over the six part pairs with
// s + t <= 2 (hi·hi, hi·mid, mid·hi, hi·lo, lo·hi, mid·mid), accumulated in float32 by the
// tiles. The three pairs left out are each at most 2^-24 |a b|. A tile instruction does
// 16 × 16 × 32 multiply-adds: on this project's Sapphire Rapids VM about 2.5 bfloat16 TFLOP/s
// per core from L1 against 0.2 float32 TFLOP/s for AVX-512 FMAs. In the attention kernels the
// six products of a 64 × 48 × 64 score block took 1.4 µs with the key parts in L1 and about
// 2.4 µs streamed from L2, against about 2 µs for the FMA register blocks (bench/RESULTS.md).
//
// Layouts (bf16 = uint16 holding a bfloat16; kp = the inner size rounded up to 32, zero-padded):
//   rows  (A operand): M rows of kp values, row-major.
//   cols  (A operand of a transpose, split_columns): blocks of 32 inner values, M rows each.
//   pairs (B operand): kp/2 rows of 2·ncols values, value (2p + e, col) at [p][2·col + e]
//                      (the tiles' VNNI order: consecutive inner indices side by side).
// Used from the AVX-512 build only, on CPUs where attention_amx_available() (attention.h).
#pragma once

#if defined(PYSEQ_ISA_LEVEL) && PYSEQ_ISA_LEVEL >= 2
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "isa.h"

#define PYSEQ_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512bf16")))

namespace pyseq::cpu {
PYSEQ_ISA_BEGIN

using bf16 = std::uint16_t;

// Three part arrays of one operand.
struct Bf16x3 {
  bf16* part[3];
};

// Tile configuration: palette 1, tiles 0-7 all 16 rows × 64 bytes (16 floats, or 32 bfloat16,
// per row). Static storage: GCC drops stores to a local that only ldtilecfg reads.
struct alignas(64) TileConfig {
  std::uint8_t palette, start_row, reserved[14];
  std::uint16_t bytes_per_row[16];
  std::uint8_t rows[16];
};
inline constexpr TileConfig kTiles16x64 = {
    1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

// Before the first tile instruction of a thread, and after its last (the OS then stops saving
// the 8 KiB of tile state at each context switch).
PYSEQ_AMX_TARGET inline void amx_begin() { _tile_loadconfig(&kTiles16x64); }
PYSEQ_AMX_TARGET inline void amx_end() { _tile_release(); }

PYSEQ_AMX_TARGET inline __m512 bf16_to_float(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// x -> (hi, mid, lo) as above, 16 values.
PYSEQ_AMX_TARGET inline void split3(__m512 x, __m256i (&out)[3]) {
  for (int s = 0; s < 3; ++s) {
    out[s] = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x));
    if (s < 2) x = _mm512_sub_ps(x, bf16_to_float(out[s]));
  }
}

// Rows of src the splits fetch ahead of the one they convert.
constexpr std::int64_t kAhead = 8;

// rows: src (nrows × k, rows lds floats apart) -> dst rows of kp values; zero past k.
PYSEQ_AMX_TARGET inline void split_rows(const Bf16x3& dst, std::int64_t kp, const float* src,
                                        std::int64_t lds, std::int64_t nrows, std::int64_t k) {
  for (std::int64_t r = 0; r < nrows; ++r) {
    // src is a head's rows of keys or values, read once per call from memory, rows apart
    if (r + kAhead < nrows)
      for (std::int64_t c = 0; c < k; c += 16)
        _mm_prefetch(reinterpret_cast<const char*>(src + (r + kAhead) * lds + c), _MM_HINT_T0);
    for (std::int64_t c = 0; c < kp; c += 16) {
      const __mmask16 m = c + 16 <= k ? __mmask16(0xFFFF)
                          : c < k     ? __mmask16((1u << (k - c)) - 1)
                                      : __mmask16(0);
      __m256i parts[3];
      split3(_mm512_maskz_loadu_ps(m, src + r * lds + c), parts);
      for (int s = 0; s < 3; ++s)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst.part[s] + r * kp + c), parts[s]);
    }
  }
}

// pairs: src (k × ncols, rows ldx floats apart, ncols a multiple of 16) -> dst; zero past k.
// Rows 2p and 2p + 1 are split together: one conversion rounds both to bfloat16, a permute
// interleaves them into pairs, and the parts' float values (for the remainders) are read back
// from the pairs by a shift and a mask (the conversions and permutes are the cost of this per
// key block of the forward's P).
PYSEQ_AMX_TARGET inline void split_pairs(const Bf16x3& dst, std::int64_t kp, const float* src,
                                         std::int64_t ldx, std::int64_t k, std::int64_t ncols) {
  // word 2i from word i (row 2p, low half), word 2i + 1 from word 16 + i (row 2p + 1)
  const __m512i zip = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                       8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (std::int64_t p = 0; p < kp / 2; ++p)
    for (std::int64_t c = 0; c < ncols; c += 16) {
      const std::int64_t r = 2 * p;
      __m512 even = r < k ? _mm512_loadu_ps(src + r * ldx + c) : _mm512_setzero_ps();
      __m512 odd = r + 1 < k ? _mm512_loadu_ps(src + (r + 1) * ldx + c) : _mm512_setzero_ps();
      for (int s = 0; s < 3; ++s) {
        const __m512i both = _mm512_permutexvar_epi16(
            zip, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(odd, even)));
        _mm512_storeu_si512(dst.part[s] + p * 2 * ncols + 2 * c, both);
        if (s < 2) {
          even = _mm512_sub_ps(even, _mm512_castsi512_ps(_mm512_slli_epi32(both, 16)));
          odd = _mm512_sub_ps(odd, _mm512_castsi512_ps(_mm512_and_si512(both, high)));
        }
      }
    }
}

// cols: src (k rows × ncols, rows lds floats apart) -> dst as the A operand of its transpose
// (ncols rows, inner k) in blocks of 32: value (row c, inner j) at [j / 32][c][j % 32] with mrows
// = round_up(ncols, 16) rows per block, so that a tile (16 rows × 32) is 1 KiB contiguous; zero
// past k and ncols, up to kp (a multiple of 32). Columns of src are read by gathers.
PYSEQ_AMX_TARGET inline void split_columns(const Bf16x3& dst, std::int64_t kp, const float* src,
                                           std::int64_t lds, std::int64_t k, std::int64_t ncols) {
  const std::int64_t mrows = (ncols + 15) / 16 * 16;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i rows16 = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(lds)));
  for (std::int64_t j0 = 0; j0 < kp; j0 += 16) {
    const __mmask16 in = j0 + 16 <= k ? __mmask16(0xFFFF)
                         : j0 < k     ? __mmask16((1u << (k - j0)) - 1)
                                      : __mmask16(0);
    const std::int64_t at = j0 / 32 * mrows * 32 + j0 % 32;
    for (std::int64_t r = j0 + 16; r < std::min(j0 + 16 + kAhead, k); ++r)  // as in split_rows
      for (std::int64_t c = 0; c < ncols; c += 16)
        _mm_prefetch(reinterpret_cast<const char*>(src + r * lds + c), _MM_HINT_T0);
    for (std::int64_t c = 0; c < mrows; ++c) {
      const __m512 x = c < ncols ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, rows16,
                                                            src + j0 * lds + c, 4)
                                 : _mm512_setzero_ps();
      __m256i parts[3];
      split3(x, parts);
      for (int s = 0; s < 3; ++s)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst.part[s] + at + c * 32), parts[s]);
    }
  }
}

// C (M × 48 floats, rows 48 apart) = A · B, or C += A · B with `accumulate`, for B in pairs
// (kp/2 × 96) and A (M × kp, M a multiple of 16) with its tile of rows [r0, r0 + 16) and inner
// [k, k + 32) at part + r0·a_row + (k / 32)·a_block, rows a_row values apart: a_row = kp,
// a_block = 32 for A in rows; a_row = 32, a_block = 32·M for A by split_columns. The products of
// the transposed attention tiles (48 queries along the columns).
// Per 16 rows: three accumulator tiles across the 48 columns, one A tile, three B tiles.
PYSEQ_AMX_TARGET inline void product_by_48(float* C, const Bf16x3& A, std::int64_t a_row,
                                           std::int64_t a_block, const Bf16x3& B, std::int64_t M,
                                           std::int64_t kp, bool accumulate) {
  constexpr std::int64_t ldb = 2 * 48 * sizeof(bf16), ldc = 48 * sizeof(float);
  const std::int64_t lda = a_row * sizeof(bf16);
  for (std::int64_t r0 = 0; r0 < M; r0 += 16) {
    if (accumulate) {
      _tile_loadd(0, C + r0 * 48, ldc);
      _tile_loadd(1, C + r0 * 48 + 16, ldc);
      _tile_loadd(2, C + r0 * 48 + 32, ldc);
    } else {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
    }
    for (std::int64_t k = 0; k < kp; k += 32) {
      const std::int64_t a_at = r0 * a_row + k / 32 * a_block;
      // B part t against A parts s <= 2 - t
      for (int t = 2; t >= 0; --t) {
        const bf16* b = B.part[t] + k / 2 * 96;
        _tile_loadd(4, b, ldb);
        _tile_loadd(5, b + 32, ldb);
        _tile_loadd(6, b + 64, ldb);
        for (int s = 2 - t; s >= 0; --s) {
          _tile_loadd(3, A.part[s] + a_at, lda);
          _tile_dpbf16ps(0, 3, 4);
          _tile_dpbf16ps(1, 3, 5);
          _tile_dpbf16ps(2, 3, 6);
        }
      }
    }
    _tile_stored(0, C + r0 * 48, ldc);
    _tile_stored(1, C + r0 * 48 + 16, ldc);
    _tile_stored(2, C + r0 * 48 + 32, ldc);
  }
}

PYSEQ_ISA_END
}  // namespace pyseq::cpu
#endif  // PYSEQ_ISA_LEVEL >= 2
