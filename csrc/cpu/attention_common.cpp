// The parts of the attention family compiled once (not per ISA): the dropout generator for the
// tests' mask, the tile-size switch and the AMX switch.
#include <atomic>
#include <cmath>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "attention.h"

namespace pyseq::cpu {

namespace {
std::atomic<int> g_block_q{0}, g_block_k{0}, g_key_chunk{0};
std::atomic<bool> g_amx_wanted{true};

// AMX-BF16 tiles and AVX512-BF16 conversions on this CPU, and Linux's permission to use the tile
// data (requested once per process; without it the first tile instruction faults).
bool amx_supported() {
#if defined(__x86_64__) && defined(__linux__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tiles = (d >> 24 & 1u) && (d >> 22 & 1u);  // AMX-TILE, AMX-BF16
  const bool avx512 = (b >> 16 & 1u) && (b >> 30 & 1u) && (b >> 31 & 1u);  // F, BW, VL
  if (!tiles || !avx512 || !__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a >> 5 & 1u)) return false;
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;  // asm/prctl.h, fpu/types.h
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
}  // namespace

std::uint32_t attention_dropout_threshold(double p) {
  // p in [0, 1) (checked by the bindings): p·2^32 < 2^32, exact in double.
  return static_cast<std::uint32_t>(std::floor(p * 4294967296.0));
}

void attention_dropout_mask(std::uint8_t* keep, std::uint64_t seed, std::int64_t B,
                            std::int64_t N, std::int64_t Lq, std::int64_t Lk, double p) {
  const std::uint32_t threshold = attention_dropout_threshold(p);
  for (std::int64_t row = 0; row < B * N * Lq; ++row) {
    const std::uint64_t key = dropout_row_key(seed, static_cast<std::uint64_t>(row));
    for (std::int64_t j = 0; j < Lk; ++j)
      keep[row * Lk + j] = dropout_bits(key, static_cast<std::uint32_t>(j)) >= threshold;
  }
}

void set_attention_tiles(int block_q, int block_k) {
  g_block_q = block_q;
  g_block_k = block_k;
}

void get_attention_tiles(int* block_q, int* block_k) {
  *block_q = g_block_q;
  *block_k = g_block_k;
}

void set_attention_key_chunk(int keys) { g_key_chunk = keys; }

int get_attention_key_chunk() { return g_key_chunk; }

bool attention_amx_available() {
  static const bool available = amx_supported();
  return available;
}

void set_attention_amx(bool wanted) { g_amx_wanted = wanted; }

bool attention_amx_enabled() { return g_amx_wanted && attention_amx_available(); }

}  // namespace pyseq::cpu
