// pyseq._cuda front-end of the conv1d and pooling kernels (csrc/cuda/conv1d.cu, pool1d.cu): checks,
// padding arithmetic, buffers, saved state.
#include <algorithm>
#include <cmath>

#include "cuda_buffer.h"

namespace pyseq::cudabind {

namespace {

// ---- conv1d ------------------------------------------------------------------------------------
// Options arrive parsed by pyseq/_gpu_ops.py (ints >= 1, padding lowercase); the padding
// arithmetic is the CPU binding's (csrc/bindings/conv1d.cpp).
constexpr const char* kConvF = "conv1d_forward";
constexpr const char* kConvB = "conv1d_backward";

struct Conv1dSaved {
  DType dtype;
  cuda::Conv1dShape s;
  Buf x, kernel;
  bool has_bias;
};

py::tuple conv1d_forward(const Buf& x, const Buf& kernel, const py::object& bias_obj, std::int64_t stride,
                         const std::string& padding, std::int64_t dilation, std::int64_t groups) {
  const char* op = kConvF;
  const DType dt = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, C)");
  check_float(op, "kernel", kernel, dt);
  check_ndim(op, "kernel", kernel, 3, "(K, C/groups, F)");
  const std::int64_t B = x->shape[0], T_ = x->shape[1], C = x->shape[2], K = kernel->shape[0], F = kernel->shape[2];
  check_extent(op, "batch size B (x.shape[0])", B);
  check_extent(op, "steps T (x.shape[1])", T_);
  check_extent(op, "channels C (x.shape[2])", C);
  check_extent(op, "kernel width K (kernel.shape[0])", K);
  check_extent(op, "filters F (kernel.shape[2])", F);
  if (C % groups)
    value_error(op, "channels C = " + std::to_string(C) + " (x.shape[2]) must be divisible by groups, got groups = " +
                        std::to_string(groups));
  if (F % groups)
    value_error(op, "filters F = " + std::to_string(F) + " (kernel.shape[2]) must be divisible by groups, got groups = " +
                        std::to_string(groups));
  check_shape(op, "kernel", kernel, {K, C / groups, F}, "(K, C/groups, F)");
  Buf bias = optional_float(op, "bias", bias_obj, dt, {F}, "(F,)", x->device);
  check_device(op, "kernel", kernel, x->device);
  const std::int64_t span = dilation * (K - 1) + 1;
  std::int64_t T_out, pad_left;
  if (padding == "valid") {
    if (span > T_)
      value_error(op, "with padding 'valid' the kernel's span dilation*(K-1)+1 = " + std::to_string(span) +
                          " must not exceed the steps T = " + std::to_string(T_) + ", got K = " + std::to_string(K) +
                          ", dilation = " + std::to_string(dilation));
    T_out = (T_ - span) / stride + 1;
    pad_left = 0;
  } else if (padding == "same") {
    T_out = (T_ + stride - 1) / stride;
    pad_left = std::max<std::int64_t>((T_out - 1) * stride + span - T_, 0) / 2;
  } else if (padding == "causal") {
    pad_left = span - 1;
    T_out = (T_ - 1) / stride + 1;
  } else {
    value_error(op, "padding must be 'valid', 'same' or 'causal', got '" + padding + "'");
  }
  cuda::set_device(op, x->device);
  const cuda::Conv1dShape sh{B, T_, C, F, K, T_out, T_out == 1 ? 1 : stride, dilation, groups, pad_left};
  Buf y = empty(op, {B, T_out, F}, x->typestr, x->device);
  if (dt == DType::f32)
    cuda::conv1d_forward<float>(y->data<float>(), x->data<float>(), kernel->data<float>(), p_<float>(bias), sh);
  else
    cuda::conv1d_forward<double>(y->data<double>(), x->data<double>(), kernel->data<double>(), p_<double>(bias), sh);
  return py::make_tuple(y, py::cast(std::make_unique<Conv1dSaved>(Conv1dSaved{dt, sh, x, kernel, bool(bias)})));
}

py::tuple conv1d_backward(const py::object& dy_obj, const Conv1dSaved& sv) {
  const char* op = kConvB;
  const cuda::Conv1dShape& s = sv.s;
  const int dev = sv.x->device;
  const std::string& ts = sv.x->typestr;
  Buf dy = opt_buf(dy_obj);
  check_upstream(op, sv.dtype, dev, {{"dy", dy, {s.B, s.T_out, s.F}, "(B, T_out, F)"}});
  Buf dx = empty(op, {s.B, s.T, s.C}, ts, dev), dk = empty(op, {s.K, s.C / s.groups, s.F}, ts, dev);
  Buf db = sv.has_bias ? empty(op, {s.F}, ts, dev) : nullptr;
  if (!dy) {
    for (const Buf& g : {dx, dk, db})
      if (g) cuda::zero(op, g->ptr, g->nbytes());
  } else if (sv.dtype == DType::f32) {
    cuda::conv1d_backward<float>(dx->data<float>(), dk->data<float>(), db ? db->data<float>() : nullptr,
                                 dy->data<float>(), sv.x->data<float>(), sv.kernel->data<float>(), s);
  } else {
    cuda::conv1d_backward<double>(dx->data<double>(), dk->data<double>(), db ? db->data<double>() : nullptr,
                                  dy->data<double>(), sv.x->data<double>(), sv.kernel->data<double>(), s);
  }
  return py::make_tuple(dx, dk, db ? py::cast(db) : py::none());
}

// ---- pooling ------------------------------------------------------------------------------------
struct PoolSaved {
  DType dtype;
  bool is_max, global;
  cuda::PoolShape s;         // windowed pools (global: B, T, C only)
  Buf argmax, mask;          // max pools: (B,T_out,C) or (B,C) int32; global pools: the mask
  int device;
};

Buf float3d(const char* op, const Buf& x) {
  float_dtype(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, C)");
  check_extent(op, "batch size B (x.shape[0])", x->shape[0]);
  check_extent(op, "steps T (x.shape[1])", x->shape[1]);
  check_extent(op, "channels C (x.shape[2])", x->shape[2]);
  cuda::set_device(op, x->device);
  return x;
}

py::tuple pool1d_forward(const std::string& kind, const Buf& x, std::int64_t pool, std::int64_t stride,
                         const std::string& padding) {
  const std::string name = kind + "_pool1d_forward";
  const char* op = name.c_str();
  float3d(op, x);
  const DType dt = float_dtype(op, "x", x);
  const std::int64_t B = x->shape[0], T_ = x->shape[1], C = x->shape[2];
  std::int64_t T_out, pad_left = 0;
  if (padding == "valid") {
    if (pool > T_)
      value_error(op, "with padding 'valid' pool_size must not exceed the steps T = " + std::to_string(T_) +
                          ", got " + std::to_string(pool));
    T_out = (T_ - pool) / stride + 1;
  } else if (padding == "same") {
    T_out = (T_ + stride - 1) / stride;
    pad_left = std::max<std::int64_t>((T_out - 1) * stride + pool - T_, 0) / 2;
  } else {
    value_error(op, "padding must be 'valid' or 'same', got '" + padding + "'");
  }
  const cuda::PoolShape s{B, T_, C, T_out, pool, stride, pad_left};
  const bool is_max = kind == "max";
  Buf y = empty(op, {B, T_out, C}, x->typestr, x->device);
  Buf am = is_max ? empty(op, {B, T_out, C}, "<i4", x->device) : nullptr;
  if (dt == DType::f32) {
    if (is_max) cuda::max_pool1d_forward<float>(y->data<float>(), am->data<std::int32_t>(), x->data<float>(), s);
    else cuda::avg_pool1d_forward<float>(y->data<float>(), x->data<float>(), s);
  } else {
    if (is_max) cuda::max_pool1d_forward<double>(y->data<double>(), am->data<std::int32_t>(), x->data<double>(), s);
    else cuda::avg_pool1d_forward<double>(y->data<double>(), x->data<double>(), s);
  }
  return py::make_tuple(y, py::cast(std::make_unique<PoolSaved>(PoolSaved{dt, is_max, false, s, am, nullptr, x->device})));
}

py::tuple global_pool1d_forward(const std::string& kind, const Buf& x, const py::object& mask_obj) {
  const std::string name = "global_" + kind + "_pool1d_forward";
  const char* op = name.c_str();
  float3d(op, x);
  const DType dt = float_dtype(op, "x", x);
  const std::int64_t B = x->shape[0], T_ = x->shape[1], C = x->shape[2];
  Buf mask = opt_buf(mask_obj);
  if (mask) {
    check_bool(op, "mask", mask, {B, T_}, "(B, T)");
    check_device(op, "mask", mask, x->device);
  }
  const bool is_max = kind == "max";
  Buf y = empty(op, {B, C}, x->typestr, x->device);
  Buf am = is_max ? empty(op, {B, C}, "<i4", x->device) : nullptr;
  const std::uint8_t* m = mask_p(mask);
  if (dt == DType::f32) {
    if (is_max) cuda::global_max_pool1d_forward<float>(y->data<float>(), am->data<std::int32_t>(), x->data<float>(), m, B, T_, C);
    else cuda::global_avg_pool1d_forward<float>(y->data<float>(), x->data<float>(), m, B, T_, C);
  } else {
    if (is_max) cuda::global_max_pool1d_forward<double>(y->data<double>(), am->data<std::int32_t>(), x->data<double>(), m, B, T_, C);
    else cuda::global_avg_pool1d_forward<double>(y->data<double>(), x->data<double>(), m, B, T_, C);
  }
  const cuda::PoolShape s{B, T_, C, 0, 0, 0, 0};
  return py::make_tuple(y, py::cast(std::make_unique<PoolSaved>(PoolSaved{dt, is_max, true, s, am, mask, x->device})));
}

py::tuple pool1d_backward(const std::string& name, const py::object& dy_obj, const PoolSaved& sv) {
  const char* op = name.c_str();
  const cuda::PoolShape& s = sv.s;
  Buf dy = opt_buf(dy_obj);
  const Shape dy_shape = sv.global ? Shape{s.B, s.C} : Shape{s.B, s.T_out, s.C};
  check_upstream(op, sv.dtype, sv.device, {{"dy", dy, dy_shape, sv.global ? "(B, C)" : "(B, T_out, C)"}});
  Buf dx = empty(op, {s.B, s.T, s.C}, sv.dtype == DType::f32 ? "<f4" : "<f8", sv.device);
  if (!dy) {
    cuda::zero(op, dx->ptr, dx->nbytes());
    return py::make_tuple(dx);
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const std::int32_t* am = sv.argmax ? sv.argmax->data<std::int32_t>() : nullptr;
    if (sv.global && sv.is_max) cuda::global_max_pool1d_backward<T>(dx->data<T>(), dy->data<T>(), am, s.B, s.T, s.C);
    else if (sv.global) cuda::global_avg_pool1d_backward<T>(dx->data<T>(), dy->data<T>(), mask_p(sv.mask), s.B, s.T, s.C);
    else if (sv.is_max) cuda::max_pool1d_backward<T>(dx->data<T>(), dy->data<T>(), am, s);
    else cuda::avg_pool1d_backward<T>(dx->data<T>(), dy->data<T>(), s);
  };
  if (sv.dtype == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(dx);
}


}  // namespace

void register_cuda_conv1d_pool1d(py::module_& m) {
  namespace cuda = pyseq::cuda;
  py::class_<Conv1dSaved>(m, "Conv1dSaved", "What conv1d_backward needs (opaque, on the GPU).");
  m.def("conv1d_forward", &conv1d_forward, py::arg("x"), py::arg("kernel"), py::arg("bias"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("conv1d_backward", &conv1d_backward, py::arg("dy"), py::arg("saved"));

  py::class_<PoolSaved>(m, "PoolSaved", "What a pooling backward needs (opaque, on the GPU).");
  m.def("pool1d_forward", &pool1d_forward, py::arg("kind"), py::arg("x"), py::arg("pool_size"),
        py::arg("strides"), py::arg("padding"));
  m.def("global_pool1d_forward", &global_pool1d_forward, py::arg("kind"), py::arg("x"), py::arg("mask"));
  m.def("pool1d_backward", &pool1d_backward, py::arg("op"), py::arg("dy"), py::arg("saved"));
}

}  // namespace pyseq::cudabind
