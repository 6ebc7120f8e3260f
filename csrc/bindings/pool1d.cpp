// pybind11 front-end of the 1-D pooling kernels: validation, padding arithmetic, dtype dispatch,
// GIL release.
#include <cstdint>
#include <string>

#include "../cpu/pool1d.h"
#include "checks.h"
#include "out_array.h"
#include "window_options.h"

namespace pyseq::bind {

namespace {

enum class Kind { max, avg };
const char* kind_name(Kind k) { return k == Kind::max ? "max" : "avg"; }

// What backward needs from a windowed pooling forward. Opaque to Python.
struct Pool1dSaved {
  DType dtype;
  Kind kind;
  cpu::Pool1dShape s;
  py::object argmax;  // (B, T_out, C) int32 for max, None for avg
};

// The same for the global pools.
struct GlobalPool1dSaved {
  DType dtype;
  Kind kind;
  std::int64_t B, T, C;
  py::object argmax;  // (B, C) int32 for max (-1: row fully masked), None for avg
  py::object mask;    // contiguous (B, T) bool, or None
};

std::string op_name(Kind k, bool global, bool fwd) {
  return std::string(global ? "global_" : "") + kind_name(k) + "_pool1d_" + (fwd ? "forward" : "backward");
}

py::array float_x(const char* op, const py::object& x_obj, DType* dt) {
  py::array x = to_array(op, "x", x_obj);
  *dt = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, C)");
  check_extent(op, "batch size B (x.shape[0])", x.shape(0));
  check_extent(op, "steps T (x.shape[1])", x.shape(1));
  check_extent(op, "channels C (x.shape[2])", x.shape(2));
  check_extent(op, "B*T*C", x.shape(0) * x.shape(1) * x.shape(2));
  return x;
}

template <typename T>
py::tuple pool_forward(Kind kind, DType dt, const py::array& x_in, const cpu::Pool1dShape& s) {
  py::array x = contiguous<T>(x_in);
  py::array_t<T> y = out_array<T>({s.B, s.T_out, s.C});
  py::object argmax = py::none();
  const T* xp = static_cast<const T*>(x.data());
  if (kind == Kind::max) {
    py::array_t<std::int32_t> am = out_array<std::int32_t>({s.B, s.T_out, s.C});
    {
      py::gil_scoped_release release;
      cpu::max_pool1d_forward<T>(y.mutable_data(), am.mutable_data(), xp, s);
    }
    argmax = am;
  } else {
    py::gil_scoped_release release;
    cpu::avg_pool1d_forward<T>(y.mutable_data(), xp, s);
  }
  auto saved = std::make_unique<Pool1dSaved>(Pool1dSaved{dt, kind, s, argmax});
  return py::make_tuple(y, py::cast(std::move(saved)));
}

py::tuple pool1d_forward(Kind kind, const py::object& x_obj, const py::object& pool_obj,
                         const py::object& strides_obj, const py::object& padding_obj) {
  const std::string name = op_name(kind, false, true);
  const char* op = name.c_str();
  DType dt;
  py::array x = float_x(op, x_obj, &dt);
  const std::int64_t P = int_option(op, "pool_size", pool_obj);
  const std::int64_t stride = strides_obj.is_none() ? P : int_option(op, "strides", strides_obj);
  const std::string padding = padding_option(op, padding_obj, false);
  const std::int64_t B = x.shape(0), T_ = x.shape(1), C = x.shape(2);
  std::int64_t T_out, pad_left = 0;
  if (padding == "valid") {
    if (P > T_)
      value_error(op, "with padding 'valid' pool_size must not exceed the steps T = " +
                          std::to_string(T_) + ", got pool_size = " + std::to_string(P));
    T_out = (T_ - P) / stride + 1;
  } else {  // TensorFlow's "same": ceil(T/s) outputs, odd extra pad on the right
    T_out = (T_ + stride - 1) / stride;
    pad_left = std::max<std::int64_t>((T_out - 1) * stride + P - T_, 0) / 2;
  }
  const cpu::Pool1dShape s{B, T_, C, T_out, P, stride, pad_left};
  if (dt == DType::f32) return pool_forward<float>(kind, dt, x, s);
  return pool_forward<double>(kind, dt, x, s);
}

template <typename T>
py::tuple pool_backward(const Pool1dSaved& sv, const char* op, const py::object& dy_obj) {
  const cpu::Pool1dShape& s = sv.s;
  py::array_t<T> dx = out_array<T>({s.B, s.T, s.C});
  if (dy_obj.is_none()) {
    std::fill(dx.mutable_data(), dx.mutable_data() + dx.size(), T(0));
    return py::make_tuple(dx);
  }
  py::array dy_a = float_like(op, "dy", dy_obj, sv.dtype);
  check_shape(op, "dy", dy_a, {s.B, s.T_out, s.C}, "(B, T_out, C)");
  py::array dy = contiguous<T>(dy_a);
  const T* d = static_cast<const T*>(dy.data());
  const std::int32_t* am =
      sv.kind == Kind::max ? static_cast<const std::int32_t*>(sv.argmax.cast<py::array>().data()) : nullptr;
  {
    py::gil_scoped_release release;
    if (sv.kind == Kind::max) cpu::max_pool1d_backward<T>(dx.mutable_data(), d, am, s);
    else cpu::avg_pool1d_backward<T>(dx.mutable_data(), d, s);
  }
  return py::make_tuple(dx);
}

py::tuple pool1d_backward(Kind kind, const py::object& dy_obj, const py::object& saved_obj) {
  const std::string name = op_name(kind, false, false);
  const char* op = name.c_str();
  const std::string fwd = op_name(kind, false, true);
  if (!py::isinstance<Pool1dSaved>(saved_obj) || saved_obj.cast<const Pool1dSaved&>().kind != kind)
    type_error(op, "saved must be the object returned by " + fwd + ", got " +
                       (py::isinstance<Pool1dSaved>(saved_obj)
                            ? std::string("the one of ") + op_name(saved_obj.cast<const Pool1dSaved&>().kind, false, true)
                            : py::str(py::type::of(saved_obj).attr("__name__")).cast<std::string>()));
  const Pool1dSaved& s = saved_obj.cast<const Pool1dSaved&>();
  if (s.dtype == DType::f32) return pool_backward<float>(s, op, dy_obj);
  return pool_backward<double>(s, op, dy_obj);
}

template <typename T>
py::tuple global_forward(Kind kind, DType dt, const py::array& x_in, const py::object& mask) {
  py::array x = contiguous<T>(x_in);
  const std::int64_t B = x.shape(0), T_ = x.shape(1), C = x.shape(2);
  py::array_t<T> y = out_array<T>({B, C});
  const T* xp = static_cast<const T*>(x.data());
  const std::uint8_t* m =
      mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(mask.cast<py::array>().data());
  py::object argmax = py::none();
  if (kind == Kind::max) {
    py::array_t<std::int32_t> am = out_array<std::int32_t>({B, C});
    {
      py::gil_scoped_release release;
      cpu::global_max_pool1d_forward<T>(y.mutable_data(), am.mutable_data(), xp, m, B, T_, C);
    }
    argmax = am;
  } else {
    py::gil_scoped_release release;
    cpu::global_avg_pool1d_forward<T>(y.mutable_data(), xp, m, B, T_, C);
  }
  auto saved = std::make_unique<GlobalPool1dSaved>(GlobalPool1dSaved{dt, kind, B, T_, C, argmax, mask});
  return py::make_tuple(y, py::cast(std::move(saved)));
}

py::tuple global_pool1d_forward(Kind kind, const py::object& x_obj, const py::object& mask_obj) {
  const std::string name = op_name(kind, true, true);
  const char* op = name.c_str();
  DType dt;
  py::array x = float_x(op, x_obj, &dt);
  py::object mask = py::none();
  if (!mask_obj.is_none()) {
    py::array m = to_array(op, "mask", mask_obj);
    if (!m.dtype().equal(py::dtype::of<bool>()))
      type_error(op, "mask must be a bool array (True = valid step), got dtype " + dtype_str(m));
    check_shape(op, "mask", m, {x.shape(0), x.shape(1)}, "(B, T)");
    mask = contiguous<bool>(m);
  }
  if (dt == DType::f32) return global_forward<float>(kind, dt, x, mask);
  return global_forward<double>(kind, dt, x, mask);
}

template <typename T>
py::tuple global_backward(const GlobalPool1dSaved& sv, const char* op, const py::object& dy_obj) {
  py::array_t<T> dx = out_array<T>({sv.B, sv.T, sv.C});
  if (dy_obj.is_none()) {
    std::fill(dx.mutable_data(), dx.mutable_data() + dx.size(), T(0));
    return py::make_tuple(dx);
  }
  py::array dy_a = float_like(op, "dy", dy_obj, sv.dtype);
  check_shape(op, "dy", dy_a, {sv.B, sv.C}, "(B, C)");
  py::array dy = contiguous<T>(dy_a);
  const T* d = static_cast<const T*>(dy.data());
  const std::uint8_t* m =
      sv.mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(sv.mask.cast<py::array>().data());
  const std::int32_t* am =
      sv.kind == Kind::max ? static_cast<const std::int32_t*>(sv.argmax.cast<py::array>().data()) : nullptr;
  {
    py::gil_scoped_release release;
    if (sv.kind == Kind::max) cpu::global_max_pool1d_backward<T>(dx.mutable_data(), d, am, sv.B, sv.T, sv.C);
    else cpu::global_avg_pool1d_backward<T>(dx.mutable_data(), d, m, sv.B, sv.T, sv.C);
  }
  return py::make_tuple(dx);
}

py::tuple global_pool1d_backward(Kind kind, const py::object& dy_obj, const py::object& saved_obj) {
  const std::string name = op_name(kind, true, false);
  const char* op = name.c_str();
  const std::string fwd = op_name(kind, true, true);
  if (!py::isinstance<GlobalPool1dSaved>(saved_obj) ||
      saved_obj.cast<const GlobalPool1dSaved&>().kind != kind)
    type_error(op, "saved must be the object returned by " + fwd + ", got " +
                       (py::isinstance<GlobalPool1dSaved>(saved_obj)
                            ? std::string("the one of ") + op_name(saved_obj.cast<const GlobalPool1dSaved&>().kind, true, true)
                            : py::str(py::type::of(saved_obj).attr("__name__")).cast<std::string>()));
  const GlobalPool1dSaved& s = saved_obj.cast<const GlobalPool1dSaved&>();
  if (s.dtype == DType::f32) return global_backward<float>(s, op, dy_obj);
  return global_backward<double>(s, op, dy_obj);
}

}  // namespace

void register_pool1d(py::module_& m) {
  py::class_<Pool1dSaved>(m, "Pool1DSaved", "What a 1-D pooling backward needs from its forward (opaque).")
      .def("__repr__", [](const Pool1dSaved& v) {
        return std::string("<Pool1DSaved ") + kind_name(v.kind) + " B=" + std::to_string(v.s.B) +
               " T=" + std::to_string(v.s.T) + " C=" + std::to_string(v.s.C) + " T_out=" +
               std::to_string(v.s.T_out) + " " + dtype_name(v.dtype) + ">";
      });
  py::class_<GlobalPool1dSaved>(m, "GlobalPool1DSaved", "What a global 1-D pooling backward needs from its forward (opaque).")
      .def("__repr__", [](const GlobalPool1dSaved& v) {
        return std::string("<GlobalPool1DSaved ") + kind_name(v.kind) + " B=" + std::to_string(v.B) +
               " T=" + std::to_string(v.T) + " C=" + std::to_string(v.C) + " " + dtype_name(v.dtype) + ">";
      });
  for (Kind k : {Kind::max, Kind::avg}) {
    m.def(op_name(k, false, true).c_str(),
          [k](const py::object& x, const py::object& pool, const py::object& strides, const py::object& padding) {
            return pool1d_forward(k, x, pool, strides, padding);
          }, py::arg("x"), py::arg("pool_size"), py::arg("strides"), py::arg("padding"));
    m.def(op_name(k, false, false).c_str(),
          [k](const py::object& dy, const py::object& saved) { return pool1d_backward(k, dy, saved); },
          py::arg("dy"), py::arg("saved"));
    m.def(op_name(k, true, true).c_str(),
          [k](const py::object& x, const py::object& mask) { return global_pool1d_forward(k, x, mask); },
          py::arg("x"), py::arg("mask"));
    m.def(op_name(k, true, false).c_str(),
          [k](const py::object& dy, const py::object& saved) { return global_pool1d_backward(k, dy, saved); },
          py::arg("dy"), py::arg("saved"));
  }
}

}  // namespace pyseq::bind
