// Host program for tests/test_cuda_compile.py: runs the CUDA attention kernels' block functions
// (csrc/cuda/attention.cuh, the code the kernels run) on the host with HostExec, block after block
// over the same grids as attention.cu, so that the forward (online softmax, masks, causal tiles,
// dropout, lse) and the backward are checked against the float64 reference without a GPU.
//
// Usage: cuda_attention_check IN OUT. IN: 16 int64 (B N Lq Lk D Dv causal has_key_mask
// has_attn_mask tile seed), then float64: dropout, scale, q, k, v, do, [key_mask 0/1],
// [attn_mask 0/1]; OUT: float64 o, lse, dq, dk, dv.
#include <cstdint>
#include <vector>

#include "../csrc/cuda/attention.cuh"
#include "host_check_io.h"

using namespace pyseq::cuda;
using host_check::Vec;

int main(int argc, char** argv) {
  host_check::Input input;
  if (const int rc = host_check::read_input(argc, argv, &input)) return rc;
  const std::int64_t* p = input.p;
  const std::int64_t B = p[0], N = p[1], Lq = p[2], Lk = p[3], D = p[4], Dv = p[5];
  const bool causal = p[6], has_km = p[7], has_am = p[8];
  const int tile = int(p[9]);
  const std::uint64_t seed = std::uint64_t(p[10]);
  auto take = [&](std::int64_t n) { return input.take(n); };
  const double dropout = take(1)[0], scale = take(1)[0];
  const Vec q = take(B * Lq * N * D), k = take(B * Lk * N * D), vv = take(B * Lk * N * Dv), dout = take(B * Lq * N * Dv);
  const std::vector<std::uint8_t> km = has_km ? input.take_mask(B * Lk) : std::vector<std::uint8_t>(),
                                  am = has_am ? input.take_mask(B * Lq * Lk) : std::vector<std::uint8_t>();
  if (!input.all_taken()) return 5;

  const AttentionOptions opt{has_km ? km.data() : nullptr, has_am ? am.data() : nullptr, causal, scale, dropout,
                             seed, B, N, Lq, Lk, D, Dv};
  const Params<double> prm = params<double>(opt, tile, tile);
  Vec o(B * Lq * N * Dv), lse(B * N * Lq), drow(B * N * Lq), dq(B * Lq * N * D, 0.0), dk(B * Lk * N * D),
      dv(B * Lk * N * Dv);
  Vec smem(forward_smem(tile, tile, D, Dv) > backward_smem(tile, tile, D, Dv) ? forward_smem(tile, tile, D, Dv)
                                                                              : backward_smem(tile, tile, D, Dv));
  // attention_forward's grid (Lq/tile, B·N), then attention_backward's: drow, dq = 0, (Lk/tile, B·N)
  for (int bn = 0; bn < B * N; ++bn)
    for (int t = 0; t < (Lq + tile - 1) / tile; ++t)
      attention_forward_block(HostExec{}, smem.data(), bn, t, o.data(), lse.data(), q.data(), k.data(), vv.data(), prm);
  for (std::int64_t row = 0; row < B * N * Lq; ++row)
    drow[row] = attention_drow_at(row, dout.data(), o.data(), int(N), int(Lq), int(Dv));
  for (int bn = 0; bn < B * N; ++bn)
    for (int t = 0; t < (Lk + tile - 1) / tile; ++t)
      attention_backward_block(HostExec{}, smem.data(), bn, t, dq.data(), dk.data(), dv.data(), dout.data(), lse.data(),
                               drow.data(), q.data(), k.data(), vv.data(), prm);
  Vec out;
  for (const Vec* a : {&o, &lse, &dq, &dk, &dv}) out.insert(out.end(), a->begin(), a->end());
  return host_check::write_output(argv, out);
}
