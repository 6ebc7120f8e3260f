// Host program for tests/test_cuda_compile.py: runs the element functions of the CUDA conv1d and
// pooling kernels (csrc/cuda/conv1d.cuh, pool1d.cuh) on the host, over every element as the
// kernels' threads would, so that their arithmetic is checked against the float64 reference
// without a GPU. float64 only (the kernels are the same templates for float32).
//
// Usage: cuda_window_check IN OUT. IN: 16 int64 (mode, then the mode's sizes), then float64 arrays;
// OUT: float64 arrays.
//   mode 0 (conv1d): B T C F K T_out stride dilation groups pad_left has_bias; x, kernel, [bias], dy
//                    -> y, dx, dkernel
//   mode 1..4 (max, avg, global max, global avg pool): B T C T_out pool stride pad_left has_mask;
//                    x, [mask as 0/1], dy -> y, dx
#include <cstdint>
#include <vector>

#include "../csrc/cuda/conv1d.cuh"
#include "../csrc/cuda/pool1d.cuh"
#include "host_check_io.h"

using pyseq::cuda::Conv1dShape;
using pyseq::cuda::PoolShape;

int main(int argc, char** argv) {
  host_check::Input input;
  if (const int rc = host_check::read_input(argc, argv, &input)) return rc;
  const std::int64_t* p = input.p;
  auto take = [&](std::int64_t n) { return input.take(n); };
  std::vector<double> out;
  auto emit = [&](const std::vector<double>& a) { out.insert(out.end(), a.begin(), a.end()); };

  if (p[0] == 0) {
    const Conv1dShape s{p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10]};
    const bool has_bias = p[11] != 0;
    const auto x = take(s.B * s.T * s.C);
    const auto kernel = take(s.K * (s.C / s.groups) * s.F);
    const auto bias = has_bias ? take(s.F) : std::vector<double>();
    const auto dy = take(s.B * s.T_out * s.F);
    std::vector<double> y(s.B * s.T_out * s.F), dx(s.B * s.T * s.C), dk(kernel.size());
    for (std::int64_t e = 0; e < std::int64_t(y.size()); ++e)
      y[e] = pyseq::cuda::conv1d_y_at(e, x.data(), kernel.data(), has_bias ? bias.data() : nullptr, s);
    for (std::int64_t e = 0; e < std::int64_t(dx.size()); ++e)
      dx[e] = pyseq::cuda::conv1d_dx_at(e, dy.data(), kernel.data(), s);
    for (std::int64_t e = 0; e < std::int64_t(dk.size()); ++e)
      dk[e] = pyseq::cuda::conv1d_dkernel_at(e, dy.data(), x.data(), s);
    emit(y);
    emit(dx);
    emit(dk);
  } else {
    const int kind = int(p[0] - 1);
    const PoolShape s{p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
    const bool has_mask = p[8] != 0;
    const bool global = kind >= 2;
    const auto x = take(s.B * s.T * s.C);
    const std::vector<std::uint8_t> mask = has_mask ? input.take_mask(s.B * s.T) : std::vector<std::uint8_t>();
    const std::uint8_t* mp = has_mask ? mask.data() : nullptr;
    const std::int64_t ny = global ? s.B * s.C : s.B * s.T_out * s.C;
    const auto dy = take(ny);
    std::vector<double> y(ny), dx(s.B * s.T * s.C);
    std::vector<std::int32_t> arg(ny);
    for (std::int64_t e = 0; e < ny; ++e) {
      if (kind == 0) y[e] = pyseq::cuda::max_pool_y_at(e, x.data(), s, &arg[e]);
      if (kind == 1) y[e] = pyseq::cuda::avg_pool_y_at(e, x.data(), s);
      if (kind == 2) y[e] = pyseq::cuda::global_max_y_at(e, x.data(), mp, s.T, s.C, &arg[e]);
      if (kind == 3) y[e] = pyseq::cuda::global_avg_y_at(e, x.data(), mp, s.T, s.C);
    }
    for (std::int64_t e = 0; e < std::int64_t(dx.size()); ++e) {
      if (kind == 0) dx[e] = pyseq::cuda::max_pool_dx_at(e, dy.data(), arg.data(), s);
      if (kind == 1) dx[e] = pyseq::cuda::avg_pool_dx_at(e, dy.data(), s);
      if (kind == 2) dx[e] = pyseq::cuda::global_max_dx_at(e, dy.data(), arg.data(), s.T, s.C);
      if (kind == 3) dx[e] = pyseq::cuda::global_avg_dx_at(e, dy.data(), mp, s.T, s.C);
    }
    emit(y);
    emit(dx);
  }
  if (!input.all_taken()) return 5;
  return host_check::write_output(argv, out);
}
