// The pyseq._core extension module: one register_* per op family, plus build and thread controls.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pybind11/numpy.h>

#include "../cpu/activations.h"
#include "../cpu/blas.h"
#include "../cpu/isa.h"
#include "../cpu/lstm.h"
#include "../cpu/threads.h"
#include "../cuda/cuda.h"
#include "checks.h"

namespace py = pybind11;

namespace pyseq::bind {
void register_lstm(py::module_& m);
void register_gru(py::module_& m);  // GRU
void register_simple_rnn(py::module_& m);  // SimpleRNN
void register_attention(py::module_& m);  // attention (issue 5)
}

namespace pyseq::bind {  // conv1d and 1-D pooling (issue 4)
void register_conv1d(py::module_& m);
void register_pool1d(py::module_& m);
}

namespace pyseq::bind {  // layers/models: embedding, Dense, Adam (issue 6)
void register_train_ops(py::module_& m);
}

namespace {

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

py::dict build_info() {
  py::dict d;
  d["version"] = PYSEQ_VERSION;
  d["compiler"] = compiler();
#if defined(_OPENMP)
  d["openmp"] = true;
  d["openmp_version"] = _OPENMP;
#else
  d["openmp"] = false;
  d["openmp_version"] = py::none();
#endif
  d["blas"] = pyseq::blas::name();
  d["blas_version"] = pyseq::blas::version();
  d["cuda"] = pyseq::cuda::built();
  d["cuda_devices"] = pyseq::cuda::device_count();
  d["cuda_info"] = pyseq::cuda::description();
  d["simd"] = pyseq::cpu::isa_name(pyseq::cpu::active_isa());
  d["simd_available"] = pyseq::cpu::available_isas();
  d["num_threads"] = pyseq::get_num_threads();
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyseq's compiled kernels. Call them through pyseq.ops, not directly.";
  m.def("build_info", &build_info);
  m.def("set_num_threads", [](int n) {
    if (n < 1) pyseq::bind::value_error("set_num_threads", "n must be at least 1, got " + std::to_string(n));
    pyseq::set_num_threads(n);
  }, py::arg("n"));
  m.def("get_num_threads", &pyseq::get_num_threads);
  m.def("set_simd", [](const std::string& name) {
    if (!pyseq::cpu::set_active_isa(name)) {
      std::string avail;
      for (auto& s : pyseq::cpu::available_isas()) avail += (avail.empty() ? "" : ", ") + s;
      pyseq::bind::value_error("set_simd", "level must be one of " + avail + ", got '" + name + "'");
    }
  }, py::arg("level"));
  m.def("get_simd", [] { return pyseq::cpu::isa_name(pyseq::cpu::active_isa()); });
  m.def("set_rnn_split", [](const std::string& mode) {
    if (mode != "auto" && mode != "batch" && mode != "units")
      pyseq::bind::value_error("set_rnn_split", "mode must be 'auto', 'batch' or 'units', got '" + mode + "'");
    pyseq::cpu::set_rnn_split(mode.c_str());
  }, py::arg("mode"));
  m.def("get_rnn_split", [] { return std::string(pyseq::cpu::get_rnn_split()); });
  m.def("set_step_product", [](const std::string& mode) {
    if (mode != "packed" && mode != "blas")
      pyseq::bind::value_error("set_step_product", "mode must be 'packed' or 'blas', got '" + mode + "'");
    pyseq::cpu::set_step_product(mode.c_str());
  }, py::arg("mode"));
  m.def("get_step_product", [] { return std::string(pyseq::cpu::get_step_product()); });
  m.def("cuda_device_count", [] {
    if (!pyseq::cuda::built())
      throw std::runtime_error("[cuda] pyseq was built without CUDA: rebuild with PYSEQ_CUDA=ON "
                            "(e.g. PYSEQ_CUDA=ON pip install .) on a machine with nvcc");
    return pyseq::cuda::device_count();
  });
  // The fused kernels' activations over an array, at the active SIMD level: for accuracy tests.
  m.def("activation", [](const std::string& name, const py::array& x_in) -> py::array {
    using pyseq::cpu::Activation;
    const char* op = "activation";
    if (name != "sigmoid" && name != "tanh")
      pyseq::bind::value_error(op, "name must be 'sigmoid' or 'tanh', got '" + name + "'");
    const Activation which = name == "sigmoid" ? Activation::sigmoid : Activation::tanh;
    auto run = [&](auto tag) -> py::array {
      using T = decltype(tag);
      auto x = pyseq::bind::contiguous<T>(x_in);
      py::array_t<T> y(x.request().shape);
      pyseq::cpu::apply_activation<T>(which, x.data(), y.mutable_data(), x.size());
      return y;
    };
    if (pyseq::bind::float_dtype(op, "x", x_in) == pyseq::bind::DType::f32) return run(float{});
    return run(double{});
  }, py::arg("name"), py::arg("x"));
  pyseq::bind::register_lstm(m);
  pyseq::bind::register_gru(m);  // GRU
  pyseq::bind::register_simple_rnn(m);  // SimpleRNN
  pyseq::bind::register_attention(m);  // attention (issue 5)
  // conv1d and 1-D pooling (issue 4)
  pyseq::bind::register_conv1d(m);
  pyseq::bind::register_pool1d(m);
  pyseq::bind::register_train_ops(m);  // layers/models: embedding, Adam
}
