// CUDA stub: compiled when PYSEQ_CUDA is OFF.
#include "cuda.h"

namespace pyseq::cuda {

bool built() { return false; }
int device_count() { return 0; }
std::string description() { return "not built (rebuild with PYSEQ_CUDA=ON and nvcc on PATH)"; }

}  // namespace pyseq::cuda
