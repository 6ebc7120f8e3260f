// pybind11 front-end of the attention kernels: validation, dtype dispatch, GIL release.
// Options arrive already parsed by pyseq/ops.py (scale as a float, dropout in [0, 1), a seed);
// arrays are checked here.
#include <cmath>
#include <cstdint>
#include <memory>

#include "../cpu/attention.h"
#include "checks.h"

namespace pyseq::bind {

namespace {

constexpr const char* kFwd = "attention_forward";
constexpr const char* kBwd = "attention_backward";

// What backward needs, kept by forward. Opaque to Python.
struct AttentionSaved {
  DType dtype;
  cpu::AttentionOptions opt;        // mask pointers refer to key_mask / attn_mask below
  py::array q, k, v, o, lse;        // contiguous
  py::object key_mask, attn_mask;  // contiguous bool arrays, or None
};

const std::uint8_t* mask_ptr(const py::object& m) {
  return m.is_none() ? nullptr : static_cast<const std::uint8_t*>(m.cast<py::array>().data());
}

// A float input of q's dtype (TypeError naming both otherwise) and ndim 4.
py::array float_input(const char* op, const char* name, const py::object& obj, DType want,
                      const char* dims) {
  py::array a = to_array(op, name, obj);
  const DType got = float_dtype(op, name, a);
  if (got != want || !a.dtype().equal(want == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>()))
    type_error(op, std::string(name) + " must have q's dtype " + dtype_name(want) +
                       ", got dtype " + dtype_str(a));
  check_ndim(op, name, a, 4, dims);
  return a;
}

py::object bool_mask(const char* op, const char* name, const py::object& obj,
                      const std::vector<std::int64_t>& shape, const char* formula,
                      const char* meaning) {
  if (obj.is_none()) return py::none();
  py::array m = to_array(op, name, obj);
  if (!m.dtype().equal(py::dtype::of<bool>()))
    type_error(op, std::string(name) + " must be a bool array (" + meaning + "), got dtype " +
                       dtype_str(m));
  check_shape(op, name, m, shape, formula);
  return contiguous<bool>(m);
}

template <typename T>
py::tuple forward(DType dt, const py::array& q_in, const py::array& k_in, const py::array& v_in,
                  py::object key_mask, py::object attn_mask, cpu::AttentionOptions opt,
                  bool return_scores) {
  py::array q = contiguous<T>(q_in), k = contiguous<T>(k_in), v = contiguous<T>(v_in);
  opt.key_mask = mask_ptr(key_mask);
  opt.attn_mask = mask_ptr(attn_mask);
  // o and the gradients 64-byte aligned: the fused kernels write them with streaming stores
  py::array_t<T> o = aligned_empty<T>({opt.B, opt.Lq, opt.N, opt.Dv});
  py::array_t<T> lse({opt.B, opt.N, opt.Lq});
  py::object scores = py::none();
  T* scores_ptr = nullptr;
  if (return_scores) {
    py::array_t<T> s({opt.B, opt.N, opt.Lq, opt.Lk});
    scores_ptr = s.mutable_data();
    scores = s;
  }
  cpu::AttentionForward<T> a{o.mutable_data(), lse.mutable_data(), scores_ptr,
                             static_cast<const T*>(q.data()), static_cast<const T*>(k.data()),
                             static_cast<const T*>(v.data()), opt};
  {
    py::gil_scoped_release release;
    cpu::attention_forward<T>(a);
  }
  auto saved = std::make_unique<AttentionSaved>(
      AttentionSaved{dt, opt, q, k, v, o, lse, key_mask, attn_mask});
  py::object s = py::cast(std::move(saved));
  if (return_scores) return py::make_tuple(o, scores, s);
  return py::make_tuple(o, s);
}

py::tuple attention_forward(const py::object& q_obj, const py::object& k_obj,
                            const py::object& v_obj, double scale, bool causal,
                            const py::object& key_mask_obj, const py::object& attn_mask_obj,
                            double dropout, std::uint64_t seed, bool return_scores) {
  py::array q0 = to_array(kFwd, "q", q_obj);
  const DType dt = float_dtype(kFwd, "q", q0);
  py::array q = float_input(kFwd, "q", q0, dt, "(B, Lq, N, D)");
  py::array k = float_input(kFwd, "k", k_obj, dt, "(B, Lk, N, D)");
  py::array v = float_input(kFwd, "v", v_obj, dt, "(B, Lk, N, Dv)");
  const std::int64_t B = q.shape(0), Lq = q.shape(1), N = q.shape(2), D = q.shape(3);
  const std::int64_t Lk = k.shape(1), Dv = v.shape(3);
  check_extent(kFwd, "batch size B (q.shape[0])", B);
  check_extent(kFwd, "query length Lq (q.shape[1])", Lq);
  check_extent(kFwd, "heads N (q.shape[2])", N);
  check_extent(kFwd, "head size D (q.shape[3])", D);
  check_extent(kFwd, "key length Lk (k.shape[1])", Lk);
  check_extent(kFwd, "value size Dv (v.shape[3])", Dv);
  check_extent(kFwd, "N*D", N * D);
  check_extent(kFwd, "N*Dv", N * Dv);
  check_shape(kFwd, "k", k, {B, Lk, N, D}, "(B, Lk, N, D) with B, N, D from q");
  check_shape(kFwd, "v", v, {B, Lk, N, Dv}, "(B, Lk, N, Dv) with B, N from q and Lk from k");
  py::object key_mask = bool_mask(kFwd, "key_mask", key_mask_obj, {B, Lk}, "(B, Lk)", "True = keep the key");
  py::object attn_mask = bool_mask(kFwd, "attn_mask", attn_mask_obj, {B, Lq, Lk}, "(B, Lq, Lk)", "True = attend");
  if (!std::isfinite(scale)) value_error(kFwd, "scale must be a finite number, got " + std::to_string(scale));
  if (!(dropout >= 0.0 && dropout < 1.0))
    value_error(kFwd, "dropout must be in [0, 1), got " + std::to_string(dropout));
  cpu::AttentionOptions opt{nullptr, nullptr, causal, scale, dropout, seed, B, N, Lq, Lk, D, Dv};
  if (dt == DType::f32) return forward<float>(dt, q, k, v, key_mask, attn_mask, opt, return_scores);
  return forward<double>(dt, q, k, v, key_mask, attn_mask, opt, return_scores);
}

template <typename T>
py::tuple backward(const AttentionSaved& s, const py::object& do_obj) {
  const cpu::AttentionOptions& o = s.opt;
  py::array_t<T> dq = aligned_empty<T>({o.B, o.Lq, o.N, o.D});
  py::array_t<T> dk = aligned_empty<T>({o.B, o.Lk, o.N, o.D});
  py::array_t<T> dv = aligned_empty<T>({o.B, o.Lk, o.N, o.Dv});
  if (do_obj.is_none()) {  // no upstream gradient: zeros
    std::fill(dq.mutable_data(), dq.mutable_data() + dq.size(), T(0));
    std::fill(dk.mutable_data(), dk.mutable_data() + dk.size(), T(0));
    std::fill(dv.mutable_data(), dv.mutable_data() + dv.size(), T(0));
    return py::make_tuple(dq, dk, dv);
  }
  py::array d = contiguous<T>(do_obj.cast<py::array>());
  cpu::AttentionBackward<T> a{dq.mutable_data(), dk.mutable_data(), dv.mutable_data(),
                              static_cast<const T*>(d.data()), static_cast<const T*>(s.o.data()),
                              static_cast<const T*>(s.lse.data()), static_cast<const T*>(s.q.data()),
                              static_cast<const T*>(s.k.data()), static_cast<const T*>(s.v.data()),
                              o};
  {
    py::gil_scoped_release release;
    cpu::attention_backward<T>(a);
  }
  return py::make_tuple(dq, dk, dv);
}

py::tuple attention_backward(const py::object& do_obj, const py::object& saved_obj) {
  if (!py::isinstance<AttentionSaved>(saved_obj))
    type_error(kBwd, "saved must be the object returned by attention_forward, got " +
                         py::str(py::type::of(saved_obj).attr("__name__")).cast<std::string>());
  const AttentionSaved& s = saved_obj.cast<const AttentionSaved&>();
  const cpu::AttentionOptions& o = s.opt;
  py::object d = py::none();
  if (!do_obj.is_none()) {
    py::array a = to_array(kBwd, "do", do_obj);
    const DType got = float_dtype(kBwd, "do", a);
    if (got != s.dtype)
      type_error(kBwd, std::string("do must have the forward inputs' dtype ") + dtype_name(s.dtype) +
                           ", got dtype " + dtype_str(a));
    check_shape(kBwd, "do", a, {o.B, o.Lq, o.N, o.Dv}, "(B, Lq, N, Dv), the shape of o");
    d = a;
  }
  if (s.dtype == DType::f32) return backward<float>(s, d);
  return backward<double>(s, d);
}

}  // namespace

void register_attention(py::module_& m) {
  py::class_<AttentionSaved>(m, "AttentionSaved",
                             "What attention_backward needs from attention_forward (opaque).")
      .def_property_readonly("seed", [](const AttentionSaved& s) { return s.opt.seed; })
      .def_property_readonly("dropout", [](const AttentionSaved& s) { return s.opt.dropout; })
      .def_property_readonly("scale", [](const AttentionSaved& s) { return s.opt.scale; })
      .def_property_readonly("lse", [](const AttentionSaved& s) { return s.lse; })
      .def_property_readonly("nbytes", [](const AttentionSaved& s) {
        // what forward allocated for backward beyond the output: the log-sum-exp
        return s.lse.nbytes();
      })
      .def("__repr__", [](const AttentionSaved& s) {
        const auto& o = s.opt;
        return "<AttentionSaved B=" + std::to_string(o.B) + " N=" + std::to_string(o.N) +
               " Lq=" + std::to_string(o.Lq) + " Lk=" + std::to_string(o.Lk) +
               " D=" + std::to_string(o.D) + " Dv=" + std::to_string(o.Dv) + " " +
               dtype_name(s.dtype) + ">";
      });
  m.def("attention_forward", &attention_forward, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("scale"), py::arg("causal"), py::arg("key_mask"), py::arg("attn_mask"),
        py::arg("dropout"), py::arg("seed"), py::arg("return_scores"));
  m.def("attention_backward", &attention_backward, py::arg("do"), py::arg("saved"));
  m.def("attention_dropout_mask",
        [](std::uint64_t seed, std::int64_t B, std::int64_t N, std::int64_t Lq, std::int64_t Lk,
           double p) {
          const char* op = "attention_dropout_mask";
          for (auto [what, v] : {std::pair<const char*, std::int64_t>{"B", B}, {"N", N}, {"Lq", Lq}, {"Lk", Lk}})
            check_extent(op, what, v);
          if (!(p >= 0.0 && p < 1.0)) value_error(op, "p must be in [0, 1), got " + std::to_string(p));
          py::array_t<bool> keep({B, N, Lq, Lk});
          cpu::attention_dropout_mask(reinterpret_cast<std::uint8_t*>(keep.mutable_data()), seed,
                                      B, N, Lq, Lk, p);
          return keep;
        },
        py::arg("seed"), py::arg("B"), py::arg("N"), py::arg("Lq"), py::arg("Lk"), py::arg("p"),
        "The keep-mask (B,N,Lq,Lk) of the attention kernels' dropout generator: for tests.");
  m.def("set_attention_tiles", [](int bq, int bk) {
    if (bq < 0 || bk < 0)
      value_error("set_attention_tiles", "tile sizes must be >= 0 (0 = automatic), got (" +
                                             std::to_string(bq) + ", " + std::to_string(bk) + ")");
    cpu::set_attention_tiles(bq, bk);
  }, py::arg("block_q"), py::arg("block_k"));
  m.def("set_attention_key_chunk", [](int keys) {
    if (keys < 0)
      value_error("set_attention_key_chunk",
                  "the chunk must be >= 0 keys (0 = automatic), got " + std::to_string(keys));
    cpu::set_attention_key_chunk(keys);
  }, py::arg("keys"), "Keys per pass of the fused float32 backward (0 = automatic): for tests.");
  m.def("get_attention_key_chunk", &cpu::get_attention_key_chunk);
  m.def("attention_amx_available", &cpu::attention_amx_available,
        "Whether the float32 attention kernels can use AMX tiles on this CPU.");
  m.def("set_attention_amx", &cpu::set_attention_amx, py::arg("wanted"),
        "Lets (True, the default) or stops the float32 attention kernels using AMX tiles.");
  m.def("get_attention_amx", &cpu::attention_amx_enabled,
        "Whether the float32 attention kernels use AMX tiles now (wanted and available).");
  m.def("get_attention_tiles", [] {
    int bq, bk;
    cpu::get_attention_tiles(&bq, &bk);
    return py::make_tuple(bq, bk);
  });
}

}  // namespace pyseq::bind
