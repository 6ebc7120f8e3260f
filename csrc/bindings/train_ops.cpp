// pybind11 front-end of the training-path kernels (embedding lookup / gradient, Adam step):
// validation, dtype dispatch, GIL release.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/train_ops.h"
#include "checks.h"

namespace pyseq::bind {

namespace {

constexpr const char* kEmbFwd = "embedding_forward";
constexpr const char* kEmbBwd = "embedding_backward";
constexpr const char* kAdam = "adam_update";

struct EmbeddingSaved {
  DType dtype;
  std::int64_t V, D;
  py::array idx;  // C-contiguous int32 or int64, the looked-up indices
  std::vector<py::ssize_t> out_shape;
};

template <typename T>
py::array emb_forward(const py::array& table_in, const py::array& idx) {
  auto table = contiguous<T>(table_in);
  const std::int64_t D = table.shape(1), N = idx.size();
  std::vector<py::ssize_t> shape(idx.shape(), idx.shape() + idx.ndim());
  shape.push_back(D);
  py::array_t<T> out(shape);
  T* o = out.mutable_data();
  const T* t = table.data();
  {
    py::gil_scoped_release release;
    if (idx.dtype().itemsize() == 4)
      cpu::embedding_forward<T, std::int32_t>(o, t, static_cast<const std::int32_t*>(idx.data()),
                                              N, D);
    else
      cpu::embedding_forward<T, std::int64_t>(o, t, static_cast<const std::int64_t*>(idx.data()),
                                              N, D);
  }
  return out;
}

py::tuple embedding_forward(const py::object& table_obj, const py::object& idx_obj) {
  py::array table = to_array(kEmbFwd, "table", table_obj);
  const DType dt = float_dtype(kEmbFwd, "table", table);
  check_ndim(kEmbFwd, "table", table, 2, "(V, D)");
  const std::int64_t V = table.shape(0), D = table.shape(1);
  check_extent(kEmbFwd, "rows V (table.shape[0])", V);
  check_extent(kEmbFwd, "size D (table.shape[1])", D);
  py::array idx = check_indices(kEmbFwd, "indices", idx_obj, V);
  py::array out = dt == DType::f32 ? emb_forward<float>(table, idx) : emb_forward<double>(table, idx);
  std::vector<py::ssize_t> shape(out.shape(), out.shape() + out.ndim());
  auto saved = std::make_unique<EmbeddingSaved>(EmbeddingSaved{dt, V, D, idx, shape});
  return py::make_tuple(out, py::cast(std::move(saved)));
}

template <typename T>
py::array emb_backward(const py::array& dout_in, const EmbeddingSaved& s) {
  auto dout = contiguous<T>(dout_in);
  py::array_t<T> dtable({s.V, s.D});
  const std::int64_t N = s.idx.size();
  T* dt = dtable.mutable_data();
  const T* d = dout.data();
  {
    py::gil_scoped_release release;
    if (s.idx.dtype().itemsize() == 4)
      cpu::embedding_backward<T, std::int32_t>(dt, d, static_cast<const std::int32_t*>(s.idx.data()),
                                               N, s.V, s.D);
    else
      cpu::embedding_backward<T, std::int64_t>(dt, d, static_cast<const std::int64_t*>(s.idx.data()),
                                               N, s.V, s.D);
  }
  return dtable;
}

py::tuple embedding_backward(const py::object& dout_obj, const EmbeddingSaved& s) {
  if (dout_obj.is_none()) {
    py::array z = s.dtype == DType::f32 ? py::array(py::array_t<float>({s.V, s.D}))
                                        : py::array(py::array_t<double>({s.V, s.D}));
    std::memset(z.mutable_data(), 0, z.nbytes());
    return py::make_tuple(z, py::none());
  }
  py::array dout = float_like(kEmbBwd, "d_out", dout_obj, s.dtype);
  std::vector<std::int64_t> shape(s.out_shape.begin(), s.out_shape.end());
  check_shape(kEmbBwd, "d_out", dout, shape, "indices.shape + (D,)");
  py::array dt = s.dtype == DType::f32 ? emb_backward<float>(dout, s) : emb_backward<double>(dout, s);
  return py::make_tuple(dt, py::none());
}

// Slots updated in place must be C-contiguous arrays of the variable's dtype and shape: a copy
// would silently drop the update.
void check_inplace(const char* name, const py::array& a, DType dt, const py::array& like) {
  check_dtype(kAdam, name, a, dt);
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    value_error(kAdam, std::string(name) + " must be a writeable C-contiguous array (updated in "
                       "place), got a non-contiguous or read-only array");
  std::vector<std::int64_t> shape(like.shape(), like.shape() + like.ndim());
  check_shape(kAdam, name, a, shape, "var.shape");
}

void adam_update(const py::object& var_obj, const py::object& m_obj, const py::object& v_obj,
                 const py::object& g_obj, double alpha, double beta_1, double beta_2,
                 double epsilon, const py::object& v_hat_obj) {
  py::array var = to_array(kAdam, "var", var_obj);
  const DType dt = float_dtype(kAdam, "var", var);
  check_inplace("var", var, dt, var);
  py::array m = to_array(kAdam, "m", m_obj), v = to_array(kAdam, "v", v_obj);
  check_inplace("m", m, dt, var);
  check_inplace("v", v, dt, var);
  py::object v_hat = py::none();
  if (!v_hat_obj.is_none()) {
    py::array vh = to_array(kAdam, "v_hat", v_hat_obj);
    check_inplace("v_hat", vh, dt, var);
    v_hat = vh;
  }
  py::array g = float_like(kAdam, "grad", g_obj, dt);
  std::vector<std::int64_t> shape(var.shape(), var.shape() + var.ndim());
  check_shape(kAdam, "grad", g, shape, "var.shape");
  const std::int64_t n = var.size();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    auto gc = contiguous<T>(g);
    T* vh = v_hat.is_none() ? nullptr : static_cast<T*>(v_hat.cast<py::array>().mutable_data());
    T* pv = static_cast<T*>(var.mutable_data());
    T* pm = static_cast<T*>(m.mutable_data());
    T* pvv = static_cast<T*>(v.mutable_data());
    const T* pg = gc.data();
    py::gil_scoped_release release;
    cpu::adam_update<T>(pv, pm, pvv, vh, pg, n, T(alpha), beta_1, beta_2, T(epsilon));
  };
  if (dt == DType::f32) run(float{});
  else run(double{});
}

constexpr const char* kDenseFwd = "dense_forward";
constexpr const char* kDenseBwd = "dense_backward";

struct DenseSaved {
  DType dtype;
  std::int64_t M, K, U;
  bool has_bias;
  py::array x, kernel;  // C-contiguous inputs
};

py::tuple dense_forward(const py::object& x_obj, const py::object& kernel_obj,
                        const py::object& bias_obj) {
  py::array x = to_array(kDenseFwd, "x", x_obj);
  const DType dt = float_dtype(kDenseFwd, "x", x);
  check_ndim(kDenseFwd, "x", x, 2, "(M, K)");
  py::array kernel = float_like(kDenseFwd, "kernel", kernel_obj, dt);
  check_ndim(kDenseFwd, "kernel", kernel, 2, "(K, U)");
  const std::int64_t M = x.shape(0), K = x.shape(1), U = kernel.shape(1);
  check_extent(kDenseFwd, "rows M (x.shape[0])", M);
  check_extent(kDenseFwd, "features K (x.shape[1])", K);
  check_extent(kDenseFwd, "units U (kernel.shape[1])", U);
  check_shape(kDenseFwd, "kernel", kernel, {K, U}, "(K, U)");
  py::object bias = py::none();
  if (!bias_obj.is_none()) {
    py::array b = float_like(kDenseFwd, "bias", bias_obj, dt);
    check_shape(kDenseFwd, "bias", b, {U}, "(U,)");
    bias = b;
  }
  auto run = [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    auto xc = contiguous<T>(x);
    auto kc = contiguous<T>(kernel);
    py::object bc = bias.is_none() ? py::object(py::none()) : py::object(contiguous<T>(bias.cast<py::array>()));
    py::array_t<T> y({M, U});
    T* py_ = y.mutable_data();
    const T* px = xc.data();
    const T* pk = kc.data();
    const T* pb = bc.is_none() ? nullptr : static_cast<const T*>(bc.cast<py::array>().data());
    {
      py::gil_scoped_release release;
      cpu::dense_forward<T>(py_, px, pk, pb, M, K, U);
    }
    auto saved = std::make_unique<DenseSaved>(DenseSaved{dt, M, K, U, !bias.is_none(), xc, kc});
    return py::make_tuple(y, py::cast(std::move(saved)));
  };
  return dt == DType::f32 ? run(float{}) : run(double{});
}

py::tuple dense_backward(const py::object& dz_obj, const DenseSaved& s) {
  auto run = [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> dx({s.M, s.K}), dw({s.K, s.U});
    py::object db = py::none();
    if (dz_obj.is_none()) {
      std::memset(dx.mutable_data(), 0, dx.nbytes());
      std::memset(dw.mutable_data(), 0, dw.nbytes());
      if (s.has_bias) {
        py::array_t<T> z({s.U});
        std::memset(z.mutable_data(), 0, z.nbytes());
        db = z;
      }
      return py::make_tuple(dx, dw, db);
    }
    py::array dz_in = float_like(kDenseBwd, "dz", dz_obj, s.dtype);
    check_shape(kDenseBwd, "dz", dz_in, {s.M, s.U}, "(M, U)");
    auto dz = contiguous<T>(dz_in);
    T* pdb = nullptr;
    if (s.has_bias) {
      py::array_t<T> b({s.U});
      pdb = b.mutable_data();
      db = b;
    }
    T* pdx = dx.mutable_data();
    T* pdw = dw.mutable_data();
    const T* pdz = dz.data();
    const T* px = static_cast<const T*>(s.x.data());
    const T* pk = static_cast<const T*>(s.kernel.data());
    {
      py::gil_scoped_release release;
      cpu::dense_backward<T>(pdx, pdw, pdb, pdz, px, pk, s.M, s.K, s.U);
    }
    return py::make_tuple(dx, dw, db);
  };
  return s.dtype == DType::f32 ? run(float{}) : run(double{});
}

}  // namespace

void register_train_ops(py::module_& m) {
  py::class_<EmbeddingSaved>(m, "EmbeddingSaved");
  py::class_<DenseSaved>(m, "DenseSaved");
  m.def("dense_forward", &dense_forward, py::arg("x"), py::arg("kernel"), py::arg("bias"));
  m.def("dense_backward", &dense_backward, py::arg("dz"), py::arg("saved"));
  m.def("embedding_forward", &embedding_forward, py::arg("table"), py::arg("indices"));
  m.def("embedding_backward", &embedding_backward, py::arg("d_out"), py::arg("saved"));
  m.def("adam_update", &adam_update, py::arg("var"), py::arg("m"), py::arg("v"), py::arg("grad"),
        py::arg("alpha"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"),
        py::arg("v_hat") = py::none());
}

}  // namespace pyseq::bind
