// Device discovery for the CUDA build (PYSEQ_CUDA=ON). The op families' .cu files sit beside it.
#include <cuda_runtime.h>

#include <string>

#include "cuda.h"

namespace pyseq::cuda {

bool built() { return true; }

int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::string description() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  std::string s = "CUDA runtime " + std::to_string(runtime / 1000) + "." +
                  std::to_string(runtime % 1000 / 10);
  int n = device_count();
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, d) == cudaSuccess) s += "; device " + std::to_string(d) + ": " + p.name;
  }
  if (n == 0) s += "; no device";
  return s;
}

}  // namespace pyseq::cuda
