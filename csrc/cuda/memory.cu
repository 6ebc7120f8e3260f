// Device memory, strided copies and error checks for the CUDA ops. Everything runs on the legacy
// default stream, which orders itself with the blocking streams of other libraries (PyTorch's and
// CuPy's default streams); allocations are stream-ordered (cudaMallocAsync) so that repeated calls
// reuse the driver's pool instead of synchronising in cudaMalloc/cudaFree.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda_ops.h"

namespace pyseq::cuda {

namespace {

[[noreturn]] void fail(const char* op, const char* what, cudaError_t e) {
  throw std::runtime_error(std::string("[") + op + "] CUDA error in " + what + ": " +
                           cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

void check(const char* op, const char* what, cudaError_t e) {
  if (e != cudaSuccess) fail(op, what, e);
}

constexpr int kMaxDims = 6;

struct StridedCopy {
  std::int64_t shape[kMaxDims];
  std::int64_t strides[kMaxDims];  // bytes
  int ndim, itemsize;
};

// dst[flat] = src[offset(flat)], one thread per element, bytes copied by item size.
// dst (prod(shape) * itemsize bytes, C-contiguous), src strided.
__global__ void copy_strided_kernel(unsigned char* __restrict__ dst,
                                    const unsigned char* __restrict__ src, StridedCopy c,
                                    std::int64_t n) {
  for (std::int64_t flat = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; flat < n;
       flat += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t rest = flat, offset = 0;
    for (int d = c.ndim - 1; d >= 0; --d) {
      offset += (rest % c.shape[d]) * c.strides[d];
      rest /= c.shape[d];
    }
    unsigned char* out = dst + flat * c.itemsize;
    const unsigned char* in = src + offset;
    for (int b = 0; b < c.itemsize; ++b) out[b] = in[b];
  }
}

}  // namespace

int pointer_device(const char* op, const void* p) {
  cudaPointerAttributes attr;
  check(op, "cudaPointerGetAttributes", cudaPointerGetAttributes(&attr, p));
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
    throw std::invalid_argument(std::string("[") + op +
                                "] a GPU array's pointer is not device memory");
  return attr.device;
}

void set_device(const char* op, int device) { check(op, "cudaSetDevice", cudaSetDevice(device)); }

void* device_alloc(const char* op, std::size_t bytes) {
  void* p = nullptr;
  check(op, "cudaMallocAsync", cudaMallocAsync(&p, bytes > 0 ? bytes : 1, 0));
  return p;
}

void device_free(void* p) noexcept {
  if (p) cudaFreeAsync(p, 0);  // nothing to report from a destructor
}

void zero(const char* op, void* p, std::size_t bytes) {
  if (bytes) check(op, "cudaMemsetAsync", cudaMemsetAsync(p, 0, bytes, 0));
}

void copy_strided(const char* op, void* dst, const void* src, int ndim, const std::int64_t* shape,
                  const std::int64_t* strides_bytes, int itemsize) {
  if (ndim > kMaxDims)
    throw std::invalid_argument(std::string("[") + op + "] GPU arrays of more than 6 dimensions "
                                "must be contiguous");
  StridedCopy c{};
  std::int64_t n = 1;
  for (int d = 0; d < ndim; ++d) {
    c.shape[d] = shape[d];
    c.strides[d] = strides_bytes[d];
    n *= shape[d];
  }
  c.ndim = ndim;
  c.itemsize = itemsize;
  if (n == 0) return;
  const int threads = 256;
  const std::int64_t blocks = (n + threads - 1) / threads;
  copy_strided_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), threads>>>(
      static_cast<unsigned char*>(dst), static_cast<const unsigned char*>(src), c, n);
  check_launch(op);
}

void wait_for_stream(const char* op, std::uintptr_t stream) {
  // 1 and 2 are the legacy and per-thread default streams (CUDA Array Interface v3): the legacy
  // stream we use is already ordered after them.
  if (stream > 2)
    check(op, "cudaStreamSynchronize",
          cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)));
}

void copy_to_host(const char* op, void* dst, const void* src, std::size_t bytes) {
  check(op, "cudaMemcpy", cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void check_launch(const char* op) { check(op, "a kernel launch", cudaGetLastError()); }

}  // namespace pyseq::cuda
