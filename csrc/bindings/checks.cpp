#include "checks.h"

#include <climits>
#include <sstream>

namespace pyseq::bind {

void value_error(const char* op, const std::string& msg) {
  throw py::value_error(std::string("[") + op + "] " + msg);
}

void type_error(const char* op, const std::string& msg) {
  throw py::type_error(std::string("[") + op + "] " + msg);
}

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }

py::array to_array(const char* op, const char* name, const py::handle& obj) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  try {
    return py::module_::import("numpy").attr("asarray")(obj).cast<py::array>();
  } catch (py::error_already_set&) {
    type_error(op, std::string(name) + " must be an array, got " +
                       py::str(py::type::of(obj)).cast<std::string>());
  }
}

DType float_dtype(const char* op, const char* name, const py::array& a) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::f32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::f64;
  // dtype equality, not identity, for byte-swapped or subclassed descriptors
  if (a.dtype().equal(py::dtype::of<float>())) return DType::f32;
  if (a.dtype().equal(py::dtype::of<double>())) return DType::f64;
  type_error(op, std::string(name) + " must be a float32 or float64 array, got dtype " +
                     dtype_str(a));
}

void check_dtype(const char* op, const char* name, const py::array& a, DType want) {
  const py::dtype expect = want == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
  if (!a.dtype().equal(expect))
    type_error(op, std::string(name) + " must have x's dtype " + dtype_name(want) +
                       ", got dtype " + dtype_str(a));
}

py::array float_like(const char* op, const char* name, const py::handle& obj, DType want) {
  py::array a = to_array(op, name, obj);
  float_dtype(op, name, a);
  check_dtype(op, name, a, want);
  return a;
}

void check_ndim(const char* op, const char* name, const py::array& a, int ndim, const char* dims) {
  if (a.ndim() != ndim)
    value_error(op, std::string(name) + " must be " + std::to_string(ndim) + "-D " + dims +
                        ", got " + std::to_string(a.ndim()) + "-D with shape " + shape_str(a));
}

void check_shape(const char* op, const char* name, const py::array& a,
                 const std::vector<std::int64_t>& shape, const char* formula) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
  if (ok) return;
  std::ostringstream want;
  want << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) want << (i ? ", " : "") << shape[i];
  want << (shape.size() == 1 ? ",)" : ")");
  value_error(op, std::string(name) + " must be " + formula + " = " + want.str() + ", got " +
                      shape_str(a));
}

void check_extent(const char* op, const char* what, std::int64_t value) {
  if (value < 1) value_error(op, std::string(what) + " must be at least 1, got " + std::to_string(value));
  if (value > INT_MAX)
    value_error(op, std::string(what) + " must be at most " + std::to_string(INT_MAX) +
                        " (32-bit BLAS), got " + std::to_string(value));
}

// Indices as C-contiguous int32 (kept) or int64 (any other integer type), all in [0, V).
py::array check_indices(const char* op, const char* name, const py::object& obj, std::int64_t V) {
  py::array a = to_array(op, name, obj);
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u')
    type_error(op, std::string(name) + " must be an integer array, got dtype " + dtype_str(a));
  py::array idx = (kind == 'i' && a.dtype().itemsize() == 4)
                      ? py::array(contiguous<std::int32_t>(a))
                      : py::array(contiguous<std::int64_t>(a));
  const std::int64_t n = idx.size();
  std::int64_t lo = 0, hi = 0;
  auto scan = [&](auto* p) {
    if (n) lo = hi = p[0];
    for (std::int64_t i = 1; i < n; ++i) {
      lo = p[i] < lo ? p[i] : lo;
      hi = p[i] > hi ? p[i] : hi;
    }
  };
  if (idx.dtype().itemsize() == 4) scan(static_cast<const std::int32_t*>(idx.data()));
  else scan(static_cast<const std::int64_t*>(idx.data()));
  if (n && (lo < 0 || hi >= V))
    value_error(op, std::string(name) + " must be in [0, " + std::to_string(V) +
                        "), got values in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return idx;
}

}  // namespace pyseq::bind
