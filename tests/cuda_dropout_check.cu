// Host program for tests/test_cuda_compile.py: prints the keep-mask (B,N,Lq,Lk) of the CUDA
// kernels' dropout generator (csrc/cuda/dropout.cuh), computed on the host, as '0'/'1' characters,
// so that the test can compare it with the CPU kernel's (_core.attention_dropout_mask) without a GPU.
// Usage: cuda_dropout_check SEED B N Lq Lk P
#include <cstdio>
#include <cstdlib>

#include "../csrc/cuda/dropout.cuh"

int main(int argc, char** argv) {
  if (argc != 7) return 2;
  const unsigned long long seed = std::strtoull(argv[1], nullptr, 10);
  const long long rows = std::atoll(argv[2]) * std::atoll(argv[3]) * std::atoll(argv[4]);
  const long long Lk = std::atoll(argv[5]);
  const std::uint32_t threshold = pyseq::cuda::dropout_threshold(std::atof(argv[6]));
  for (long long row = 0; row < rows; ++row) {
    const std::uint64_t key = pyseq::cuda::dropout_row_key(seed, std::uint64_t(row));
    for (long long j = 0; j < Lk; ++j)
      std::putchar(pyseq::cuda::dropout_bits(key, std::uint32_t(j)) >= threshold ? '1' : '0');
  }
  return 0;
}
