// Argument checks for the bindings: the one place where user input is validated. Every message
// starts with "[op]" and says what was expected and what came; shape problems raise ValueError,
// type problems TypeError.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pyseq::bind {

namespace py = pybind11;

enum class DType { f32, f64 };

[[noreturn]] void value_error(const char* op, const std::string& msg);
[[noreturn]] void type_error(const char* op, const std::string& msg);

std::string shape_str(const py::array& a);
std::string dtype_str(const py::array& a);
const char* dtype_name(DType d);

// Any array-like as a NumPy array (no copy for arrays); junk becomes an object array and is then
// refused by the dtype checks.
py::array to_array(const char* op, const char* name, const py::handle& obj);

// The dtype of a float input: float32 or float64, else TypeError.
DType float_dtype(const char* op, const char* name, const py::array& a);

// `name` must have dtype `want` (the dtype x decided): no silent casts.
void check_dtype(const char* op, const char* name, const py::array& a, DType want);

// to_array, then float32/float64 and x's dtype `want`: the usual first check of a float input.
py::array float_like(const char* op, const char* name, const py::handle& obj, DType want);

// ndim, with `dims` naming the axes, e.g. "(B, T, I)".
void check_ndim(const char* op, const char* name, const py::array& a, int ndim, const char* dims);

// Exact shape; `formula` names it, e.g. "(H, 4H)", and the message prints its value.
void check_shape(const char* op, const char* name, const py::array& a,
                 const std::vector<std::int64_t>& shape, const char* formula);

// Integer indices into a table of V rows, all in [0, V): a C-contiguous int32 array (kept as
// int32) or int64 (any other integer dtype), else TypeError / ValueError naming `name`.
py::array check_indices(const char* op, const char* name, const py::object& obj, std::int64_t V);

// Sizes that must be >= 1 and fit the BLAS's 32-bit integers.
void check_extent(const char* op, const char* what, std::int64_t value);

// A C-contiguous array of T with the same values (a copy only when the strides need one).
template <typename T>
py::array_t<T, py::array::c_style> contiguous(const py::array& a) {
  return py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
}

// A new C-contiguous array of `shape` whose data starts on a 64-byte boundary: a view into a
// slightly larger array (NumPy aligns its data to 16 bytes only). Kernels write such outputs
// with streaming stores, which need whole aligned cache lines.
template <typename T>
py::array_t<T> aligned_empty(const std::vector<py::ssize_t>& shape) {
  py::ssize_t n = 1;
  for (py::ssize_t d : shape) n *= d;
  constexpr py::ssize_t pad = 64 / sizeof(T);
  py::array_t<T> raw(n + pad);
  T* p = raw.mutable_data();
  const py::ssize_t skip = ((64 - reinterpret_cast<std::uintptr_t>(p) % 64) % 64) / sizeof(T);
  return py::array_t<T>(shape, p + skip, raw);
}

// An optional float input: None, or an array of `dt` with the given shape, made contiguous.
template <typename T>
py::object optional_float(const char* op, const char* name, const py::object& obj,
                          const std::vector<std::int64_t>& shape, const char* formula, DType dt) {
  if (obj.is_none()) return py::none();
  py::array a = float_like(op, name, obj, dt);
  check_shape(op, name, a, shape, formula);
  return contiguous<T>(a);
}

// The data of an optional input made by optional_float, or nullptr for None.
template <typename T>
const T* ptr_or_null(const py::object& a) {
  return a.is_none() ? nullptr : static_cast<const T*>(a.cast<py::array>().data());
}

}  // namespace pyseq::bind
