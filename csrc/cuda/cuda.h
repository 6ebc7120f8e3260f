// The CUDA side of pyseq. Built from the .cu files in this folder only with PYSEQ_CUDA=ON;
// otherwise stub.cpp provides these functions and every GPU request fails with a clear error.
#pragma once

#include <string>

namespace pyseq::cuda {

bool built();              // compiled with PYSEQ_CUDA=ON
int device_count();        // 0 when not built or no device
std::string description(); // toolkit and device summary, or why there is none

}  // namespace pyseq::cuda
