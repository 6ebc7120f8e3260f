// The parts of the attention family compiled once (not per ISA): the dropout generator for the
// tests' mask and the tile-size switch.
#include <atomic>
#include <cmath>

#include "attention.h"

namespace pyseq::cpu {

namespace {
std::atomic<int> g_block_q{0}, g_block_k{0};
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

}  // namespace pyseq::cpu
