// pybind11 front-end of the Conv1D kernels: validation, padding arithmetic, dtype dispatch,
// GIL release.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <string>

#include "../cpu/conv1d.h"
#include "checks.h"
#include "out_array.h"
#include "window_options.h"

namespace pyseq::bind {

namespace {

constexpr const char* kFwd = "conv1d_forward";
constexpr const char* kBwd = "conv1d_backward";

// What backward needs, kept by forward. Opaque to Python.
struct Conv1dSaved {
  DType dtype;
  cpu::Conv1dShape s;
  bool has_bias;
  py::array x, kernel;  // contiguous inputs
};

template <typename T>
py::tuple forward(DType dt, const py::array& x_in, const py::array& k_in, const py::object& bias_in,
                  const cpu::Conv1dShape& s) {
  py::array x = contiguous<T>(x_in), kernel = contiguous<T>(k_in);
  py::object bias = bias_in.is_none() ? py::object(py::none()) : py::object(contiguous<T>(bias_in.cast<py::array>()));
  py::array_t<T> y = out_array<T>({s.B, s.T_out, s.F});
  cpu::Conv1dForward<T> a{y.mutable_data(), static_cast<const T*>(x.data()),
                          static_cast<const T*>(kernel.data()),
                          bias.is_none() ? nullptr : static_cast<const T*>(bias.cast<py::array>().data()), s};
  {
    py::gil_scoped_release release;
    cpu::conv1d_forward<T>(a);
  }
  auto saved = std::make_unique<Conv1dSaved>(Conv1dSaved{dt, s, !bias.is_none(), x, kernel});
  return py::make_tuple(y, py::cast(std::move(saved)));
}

py::tuple conv1d_forward(const py::object& x_obj, const py::object& kernel_obj,
                         const py::object& bias_obj, const py::object& stride_obj,
                         const py::object& padding_obj, const py::object& dilation_obj,
                         const py::object& groups_obj) {
  py::array x = to_array(kFwd, "x", x_obj);
  const DType dt = float_dtype(kFwd, "x", x);
  check_ndim(kFwd, "x", x, 3, "(B, T, C)");
  py::array kernel = float_like(kFwd, "kernel", kernel_obj, dt);
  check_ndim(kFwd, "kernel", kernel, 3, "(K, C/groups, F)");
  const std::int64_t stride = int_option(kFwd, "stride", stride_obj);
  const std::int64_t dilation = int_option(kFwd, "dilation", dilation_obj);
  const std::int64_t groups = int_option(kFwd, "groups", groups_obj);
  const std::string padding = padding_option(kFwd, padding_obj, true);

  const std::int64_t B = x.shape(0), T_ = x.shape(1), C = x.shape(2);
  const std::int64_t K = kernel.shape(0), F = kernel.shape(2);
  check_extent(kFwd, "batch size B (x.shape[0])", B);
  check_extent(kFwd, "steps T (x.shape[1])", T_);
  check_extent(kFwd, "channels C (x.shape[2])", C);
  check_extent(kFwd, "kernel width K (kernel.shape[0])", K);
  check_extent(kFwd, "filters F (kernel.shape[2])", F);
  check_extent(kFwd, "B*T*C", B * T_ * C);
  if (C % groups)
    value_error(kFwd, "channels C = " + std::to_string(C) + " (x.shape[2]) must be divisible by groups, got groups = " +
                          std::to_string(groups));
  if (F % groups)
    value_error(kFwd, "filters F = " + std::to_string(F) + " (kernel.shape[2]) must be divisible by groups, got groups = " +
                          std::to_string(groups));
  check_shape(kFwd, "kernel", kernel, {K, C / groups, F}, "(K, C/groups, F)");
  py::object bias = py::none();
  if (!bias_obj.is_none()) {
    py::array b = float_like(kFwd, "bias", bias_obj, dt);
    check_shape(kFwd, "bias", b, {F}, "(F,)");
    bias = b;
  }
  const std::int64_t span = dilation * (K - 1) + 1;  // receptive field of one output step
  if (span > INT_MAX) value_error(kFwd, "dilation*(K-1)+1 must be at most " + std::to_string(INT_MAX) + ", got " + std::to_string(span));
  std::int64_t T_out, pad_left;
  if (padding == "valid") {
    if (span > T_)
      value_error(kFwd, "with padding 'valid' the kernel's span dilation*(K-1)+1 = " +
                            std::to_string(span) + " must not exceed the steps T = " + std::to_string(T_) +
                            ", got K = " + std::to_string(K) + ", dilation = " + std::to_string(dilation));
    T_out = (T_ - span) / stride + 1;
    pad_left = 0;
  } else if (padding == "same") {  // TensorFlow's rule: ceil(T/s) outputs, odd extra pad on the right
    T_out = (T_ + stride - 1) / stride;
    pad_left = std::max<std::int64_t>((T_out - 1) * stride + span - T_, 0) / 2;
  } else {  // causal: dilation*(K-1) zeros on the left, then 'valid'
    pad_left = span - 1;
    T_out = (T_ - 1) / stride + 1;
  }
  check_extent(kFwd, "B*T_out*F", B * T_out * F);
  cpu::Conv1dShape s{B, T_, C, F, K, T_out, stride, dilation, groups, pad_left};
  if (dt == DType::f32) return forward<float>(dt, x, kernel, bias, s);
  return forward<double>(dt, x, kernel, bias, s);
}

template <typename T>
py::tuple backward(const Conv1dSaved& sv, const py::object& dy_obj) {
  const cpu::Conv1dShape& s = sv.s;
  py::array_t<T> dx = out_array<T>({s.B, s.T, s.C}), dkernel = out_array<T>({s.K, s.C / s.groups, s.F});
  py::object dbias = py::none();
  if (sv.has_bias) dbias = py::array_t<T>(s.F);
  if (dy_obj.is_none()) {  // zeros, no kernel call
    std::fill(dx.mutable_data(), dx.mutable_data() + dx.size(), T(0));
    std::fill(dkernel.mutable_data(), dkernel.mutable_data() + dkernel.size(), T(0));
    if (sv.has_bias) {
      auto db = dbias.cast<py::array_t<T>>();
      std::fill(db.mutable_data(), db.mutable_data() + db.size(), T(0));
    }
    return py::make_tuple(dx, dkernel, dbias);
  }
  py::array dy_a = float_like(kBwd, "dy", dy_obj, sv.dtype);
  check_shape(kBwd, "dy", dy_a, {s.B, s.T_out, s.F}, "(B, T_out, F)");
  py::array dy = contiguous<T>(dy_a);
  T* db = sv.has_bias ? dbias.cast<py::array_t<T>>().mutable_data() : nullptr;
  cpu::Conv1dBackward<T> a{dx.mutable_data(), dkernel.mutable_data(), db,
                           static_cast<const T*>(dy.data()), static_cast<const T*>(sv.x.data()),
                           static_cast<const T*>(sv.kernel.data()), s};
  {
    py::gil_scoped_release release;
    cpu::conv1d_backward<T>(a);
  }
  return py::make_tuple(dx, dkernel, dbias);
}

py::tuple conv1d_backward(const py::object& dy_obj, const py::object& saved_obj) {
  if (!py::isinstance<Conv1dSaved>(saved_obj))
    type_error(kBwd, "saved must be the object returned by conv1d_forward, got " +
                         py::str(py::type::of(saved_obj).attr("__name__")).cast<std::string>());
  const Conv1dSaved& s = saved_obj.cast<const Conv1dSaved&>();
  if (s.dtype == DType::f32) return backward<float>(s, dy_obj);
  return backward<double>(s, dy_obj);
}

}  // namespace

void register_conv1d(py::module_& m) {
  py::class_<Conv1dSaved>(m, "Conv1DSaved", "What conv1d_backward needs from conv1d_forward (opaque).")
      .def("__repr__", [](const Conv1dSaved& v) {
        const auto& s = v.s;
        return "<Conv1DSaved B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) +
               " C=" + std::to_string(s.C) + " K=" + std::to_string(s.K) + " F=" +
               std::to_string(s.F) + " T_out=" + std::to_string(s.T_out) + " " + dtype_name(v.dtype) + ">";
      });
  m.def("conv1d_forward", &conv1d_forward, py::arg("x"), py::arg("kernel"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("conv1d_backward", &conv1d_backward, py::arg("dy"), py::arg("saved"));
}

}  // namespace pyseq::bind
