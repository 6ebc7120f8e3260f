// pybind11 module pyseq._cuda (PYSEQ_CUDA=ON only): the CUDA ops' front-end. pyseq/_device.py
// turns GPU arrays (__cuda_array_interface__) into DeviceBuffer views (or contiguous copies) and
// calls these functions; validation of shapes and dtypes happens in the family files with the
// CPU bindings' messages, then the kernels of csrc/cuda/ run on the legacy default stream. Results
// are DeviceBuffers that own pyseq's allocations, which _device.py hands back to the caller's
// array library.
#include "cuda_buffer.h"

PYBIND11_MODULE(_cuda, m) {
  using namespace pyseq::cudabind;
  m.doc() = "pyseq's CUDA kernels (PYSEQ_CUDA=ON). Reached through pyseq.ops with GPU arrays.";
  register_cuda_buffer(m);
  register_cuda_attention(m);
  register_cuda_recurrent(m);
  register_cuda_conv1d_pool1d(m);
}
