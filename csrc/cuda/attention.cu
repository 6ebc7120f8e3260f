// Fused softmax attention on the GPU, forward and backward, flash-style (the semantics of
// csrc/cpu/attention.h and docs/attention_contract.md). Forward: one block per (query tile, b, n)
// walks the key tiles it can see with an online softmax in shared memory and saves the
// log-sum-exp; no Lq×Lk matrix exists. Backward: a row pass computes Drow = rowsum(dO∘O), then one
// block per (key tile, b, n) walks the query tiles that see it, recomputing P = exp(s - lse),
// accumulating dK and dV in shared memory and adding dQ with atomics. Causal: tiles above the
// diagonal are never visited. Dropout: the same counter-based generator as the CPU kernel,
// regenerated in backward.
// Legend: B batch, N heads, Lq query length, Lk key length, D head size (q, k), Dv value size.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda_ops.h"
#include "attention.cuh"
#include "dropout.cuh"

namespace pyseq::cuda {

namespace {

constexpr int kThreads = 128;  // 4 warps per block

// The GPU side of the block functions' executor (attention.cuh): a block of kThreads threads.
struct DeviceExec {
  __device__ int tid() const { return threadIdx.x; }
  __device__ int threads() const { return kThreads; }
  __device__ int lane() const { return threadIdx.x & 31; }
  __device__ int lanes() const { return 32; }
  __device__ int warp() const { return threadIdx.x >> 5; }
  __device__ int warps() const { return kThreads / 32; }
  __device__ void sync() const { __syncthreads(); }
  template <typename T> __device__ T row_max(T v) const {  // over the warp's 32 lanes
    for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
  }
  template <typename T> __device__ T row_sum(T v) const {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
  }
  template <typename T> __device__ void add(T* at, T v) const { atomicAdd(at, v); }
};

// grid (Lq/Br, B·N)
template <typename T>
__global__ void __launch_bounds__(kThreads)
attention_forward_kernel(T* __restrict__ o, T* __restrict__ lse, const T* __restrict__ q,
                         const T* __restrict__ k, const T* __restrict__ v, Params<T> p) {
  extern __shared__ unsigned char smem_bytes[];
  attention_forward_block(DeviceExec{}, reinterpret_cast<T*>(smem_bytes), int(blockIdx.y), int(blockIdx.x), o, lse,
                          q, k, v, p);
}

// drow (B,N,Lq) = rowsum(dO∘O), one thread per row.
template <typename T>
__global__ void attention_drow_kernel(T* __restrict__ drow, const T* __restrict__ dout,
                                      const T* __restrict__ o, int B, int N, int Lq, int Dv) {
  const std::int64_t row = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (row < std::int64_t(B) * N * Lq) drow[row] = attention_drow_at(row, dout, o, N, Lq, Dv);
}

// grid (Lk/Bc, B·N)
template <typename T>
__global__ void __launch_bounds__(kThreads)
attention_backward_kernel(T* __restrict__ dq, T* __restrict__ dk, T* __restrict__ dv,
                          const T* __restrict__ dout, const T* __restrict__ lse,
                          const T* __restrict__ drow, const T* __restrict__ q,
                          const T* __restrict__ k, const T* __restrict__ v, Params<T> p) {
  extern __shared__ unsigned char smem_bytes[];
  attention_backward_block(DeviceExec{}, reinterpret_cast<T*>(smem_bytes), int(blockIdx.y), int(blockIdx.x), dq, dk,
                           dv, dout, lse, drow, q, k, v, p);
}

// keep (B,N,Lq,Lk) <- the generator; one thread per weight.
__global__ void dropout_mask_kernel(std::uint8_t* keep, std::uint64_t seed, std::int64_t rows,
                                    std::int64_t Lk, std::uint32_t threshold) {
  const std::int64_t at = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (at >= rows * Lk) return;
  keep[at] = dropout_bits(dropout_row_key(seed, std::uint64_t(at / Lk)), std::uint32_t(at % Lk)) >=
             threshold;
}

int max_smem_bytes() {
  int device = 0, bytes = 0;
  cudaGetDevice(&device);
  if (cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
    bytes = 48 * 1024;
  return bytes;
}

// The largest square tiles (64, 32, 16, 8 rows) whose shared memory fits; 0 if none does.
template <typename T, typename F>
int choose_tile(F smem_elems, std::int64_t D, std::int64_t Dv) {
  const std::size_t limit = std::size_t(max_smem_bytes());
  for (int t : {64, 32, 16, 8})
    if (smem_elems(t, t, D, Dv) * sizeof(T) <= limit) return t;
  return 0;
}

void check(const char* op, cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("[") + op + "] CUDA error in " + what + ": " +
                             cudaGetErrorString(e));
}

}  // namespace

template <typename T>
bool attention_fits(std::int64_t D, std::int64_t Dv) {
  return choose_tile<T>(forward_smem, D, Dv) > 0 && choose_tile<T>(backward_smem, D, Dv) > 0;
}

template <typename T>
void attention_forward(const AttentionForward<T>& a) {
  const char* op = "attention_forward";
  const AttentionOptions& o = a.opt;
  const int t = choose_tile<T>(forward_smem, o.D, o.Dv);
  if (t == 0) throw std::invalid_argument(std::string("[") + op + "] head sizes too large for the CUDA kernel");
  const Params<T> p = params<T>(o, t, t);
  const std::size_t smem = forward_smem(t, t, o.D, o.Dv) * sizeof(T);
  check(op, cudaFuncSetAttribute(attention_forward_kernel<T>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
        "cudaFuncSetAttribute");
  const dim3 grid(unsigned((o.Lq + t - 1) / t), unsigned(o.B * o.N));
  attention_forward_kernel<T><<<grid, kThreads, smem>>>(a.o, a.lse, a.q, a.k, a.v, p);
  check_launch(op);
}

template <typename T>
void attention_backward(const AttentionBackward<T>& a) {
  const char* op = "attention_backward";
  const AttentionOptions& o = a.opt;
  const int t = choose_tile<T>(backward_smem, o.D, o.Dv);
  if (t == 0) throw std::invalid_argument(std::string("[") + op + "] head sizes too large for the CUDA kernel");
  const Params<T> p = params<T>(o, t, t);
  const std::int64_t rows = o.B * o.N * o.Lq;
  T* drow = static_cast<T*>(device_alloc(op, std::size_t(rows) * sizeof(T)));
  try {
    attention_drow_kernel<T><<<unsigned((rows + 255) / 256), 256>>>(drow, a.dout, a.o, int(o.B),
                                                                   int(o.N), int(o.Lq), int(o.Dv));
    check_launch(op);
    zero(op, a.dq, std::size_t(o.B * o.Lq * o.N * o.D) * sizeof(T));
    const std::size_t smem = backward_smem(t, t, o.D, o.Dv) * sizeof(T);
    check(op, cudaFuncSetAttribute(attention_backward_kernel<T>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "cudaFuncSetAttribute");
    const dim3 grid(unsigned((o.Lk + t - 1) / t), unsigned(o.B * o.N));
    attention_backward_kernel<T><<<grid, kThreads, smem>>>(a.dq, a.dk, a.dv, a.dout, a.lse, drow,
                                                           a.q, a.k, a.v, p);
    check_launch(op);
  } catch (...) {
    device_free(drow);
    throw;
  }
  device_free(drow);  // stream-ordered: freed after the kernels that read it
}

void attention_dropout_mask(std::uint8_t* keep, std::uint64_t seed, std::int64_t B,
                            std::int64_t N, std::int64_t Lq, std::int64_t Lk, double p) {
  const std::int64_t n = B * N * Lq * Lk;
  dropout_mask_kernel<<<unsigned((n + 255) / 256), 256>>>(keep, seed, B * N * Lq, Lk,
                                                          dropout_threshold(p));
  check_launch("attention_dropout_mask");
}

template bool attention_fits<float>(std::int64_t, std::int64_t);
template bool attention_fits<double>(std::int64_t, std::int64_t);
template void attention_forward<float>(const AttentionForward<float>&);
template void attention_forward<double>(const AttentionForward<double>&);
template void attention_backward<float>(const AttentionBackward<float>&);
template void attention_backward<double>(const AttentionBackward<double>&);

}  // namespace pyseq::cuda
