// The CUDA module's (pyseq._cuda) shared binding pieces: DeviceBuffer, the GPU memory every op
// reads and returns, and the argument checks with the CPU bindings' wording ("[op] x must be ...").
// One binding file per family (cuda_attention.cpp, cuda_recurrent.cpp, cuda_conv1d_pool1d.cpp),
// cuda_buffer.cpp for the buffers, cuda_module.cpp for the module.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "../cuda/cuda_ops.h"

namespace pyseq::cudabind {

namespace py = pybind11;

[[noreturn]] inline void value_error(const char* op, const std::string& msg) {
  throw py::value_error(std::string("[") + op + "] " + msg);
}
[[noreturn]] inline void type_error(const char* op, const std::string& msg) {
  throw py::type_error(std::string("[") + op + "] " + msg);
}

using Shape = std::vector<std::int64_t>;

inline std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (std::size_t d = 0; d < s.size(); ++d) out += (d ? ", " : "") + std::to_string(s[d]);
  return out + (s.size() == 1 ? ",)" : ")");
}

inline std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto e : s) n *= e;
  return n;
}

inline int itemsize_of(const std::string& typestr) {
  if (typestr == "<f4") return 4;
  if (typestr == "<f8") return 8;
  if (typestr == "|b1") return 1;
  if (typestr == "<i4") return 4;  // pyseq's own index buffers; inputs of it fail the dtype checks
  return 0;
}

// Device memory of one dtype and C-contiguous shape: pyseq's own (owned) or a view of a caller's
// array, kept alive through `owner`.
struct DeviceBuffer {
  void* ptr = nullptr;
  bool owned = false;
  Shape shape;
  std::string typestr;  // "<f4", "<f8" or "|b1"
  int device = 0;
  py::object owner;

  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (owned) cuda::device_free(ptr);
  }
  std::size_t nbytes() const { return std::size_t(numel(shape)) * itemsize_of(typestr); }
  template <typename T> T* data() const { return static_cast<T*>(ptr); }
};

using Buf = std::shared_ptr<DeviceBuffer>;

inline Buf empty(const char* op, const Shape& shape, const std::string& typestr, int device) {
  auto b = std::make_shared<DeviceBuffer>();
  b->shape = shape;
  b->typestr = typestr;
  b->device = device;
  b->ptr = cuda::device_alloc(op, b->nbytes());
  b->owned = true;
  return b;
}

inline Buf zeros(const char* op, const Shape& shape, const std::string& typestr, int device) {
  Buf b = empty(op, shape, typestr, device);
  cuda::zero(op, b->ptr, b->nbytes());
  return b;
}

// ---- checks (the CPU bindings' wording) -----------------------------------------------------------
enum class DType { f32, f64 };
inline const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }
inline const char* typestr_name(const std::string& t) {
  return t == "<f4" ? "float32" : t == "<f8" ? "float64" : t == "|b1" ? "bool" : "other";
}

inline DType float_dtype(const char* op, const char* name, const Buf& b) {
  if (b->typestr == "<f4") return DType::f32;
  if (b->typestr == "<f8") return DType::f64;
  type_error(op, std::string(name) + " must be float32 or float64, got dtype " + typestr_name(b->typestr));
}

inline void check_float(const char* op, const char* name, const Buf& b, DType want) {
  if (float_dtype(op, name, b) != want)
    type_error(op, std::string(name) + " must have the dtype " + dtype_name(want) + " of the first input, got dtype " +
                       typestr_name(b->typestr));
}

inline void check_ndim(const char* op, const char* name, const Buf& b, std::size_t ndim, const char* dims) {
  if (b->shape.size() != ndim)
    value_error(op, std::string(name) + " must be " + std::to_string(ndim) + "-D " + dims + ", got shape " +
                        shape_str(b->shape));
}

inline void check_shape(const char* op, const char* name, const Buf& b, const Shape& want, const char* formula) {
  if (b->shape != want)
    value_error(op, std::string(name) + " must be " + formula + " = " + shape_str(want) + ", got " +
                        shape_str(b->shape));
}

inline void check_extent(const char* op, const char* what, std::int64_t v) {
  if (v < 1 || v > 2147483647)
    value_error(op, std::string(what) + " must be in [1, 2**31), got " + std::to_string(v));
}

inline void check_bool(const char* op, const char* name, const Buf& b, const Shape& want, const char* formula) {
  if (b->typestr != "|b1")
    type_error(op, std::string(name) + " must be a bool array, got dtype " + typestr_name(b->typestr));
  check_shape(op, name, b, want, formula);
}

inline void check_device(const char* op, const char* name, const Buf& b, int device) {
  if (b->device != device)
    value_error(op, std::string(name) + " is on GPU " + std::to_string(b->device) +
                        ", the first input on GPU " + std::to_string(device) + ": all inputs must share one device");
}

inline Buf opt_buf(const py::object& o) { return o.is_none() ? nullptr : o.cast<Buf>(); }
template <typename T> const T* ptr_or_null(const Buf& b) { return b ? b->data<T>() : nullptr; }
template <typename T> const T* p_(const Buf& b) { return ptr_or_null<T>(b); }
inline const std::uint8_t* mask_p(const Buf& b) { return ptr_or_null<std::uint8_t>(b); }

inline Buf optional_float(const char* op, const char* name, const py::object& obj, DType dt, const Shape& shape,
                   const char* formula, int device) {
  Buf b = opt_buf(obj);
  if (!b) return b;
  check_float(op, name, b, dt);
  check_shape(op, name, b, shape, formula);
  check_device(op, name, b, device);
  return b;
}

// Upstream gradients of a recurrent backward: dtype, shape and device of each given one.
inline void check_upstream(const char* op, DType dt, int device,
                    std::initializer_list<std::tuple<const char*, Buf, Shape, const char*>> ups) {
  for (const auto& [name, b, shape, formula] : ups) {
    if (!b) continue;
    if (float_dtype(op, name, b) != dt)
      type_error(op, std::string(name) + " must have the forward inputs' dtype " + dtype_name(dt) +
                         ", got dtype " + typestr_name(b->typestr));
    check_shape(op, name, b, shape, formula);
    check_device(op, name, b, device);
  }
  cuda::set_device(op, device);
}

void register_cuda_buffer(py::module_& m);
void register_cuda_attention(py::module_& m);
void register_cuda_recurrent(py::module_& m);
void register_cuda_conv1d_pool1d(py::module_& m);

}  // namespace pyseq::cudabind
