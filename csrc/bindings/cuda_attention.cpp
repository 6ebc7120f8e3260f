// pyseq._cuda front-end of the attention kernels (csrc/cuda/attention.cu): checks, buffers, saved state.
#include <algorithm>
#include <cmath>

#include "cuda_buffer.h"

namespace pyseq::cudabind {

namespace {

// ---- attention ----------------------------------------------------------------------------------
constexpr const char* kAttF = "attention_forward";
constexpr const char* kAttB = "attention_backward";

struct AttentionSaved {
  DType dtype;
  cuda::AttentionOptions opt;
  Buf q, k, v, o, lse, key_mask, attn_mask;
};

py::tuple attention_forward(const Buf& q, const Buf& k, const Buf& v, double scale, bool causal,
                            const py::object& key_mask_obj, const py::object& attn_mask_obj,
                            double dropout, std::uint64_t seed) {
  const DType dt = float_dtype(kAttF, "q", q);
  check_float(kAttF, "k", k, dt);
  check_float(kAttF, "v", v, dt);
  check_ndim(kAttF, "q", q, 4, "(B, Lq, N, D)");
  check_ndim(kAttF, "k", k, 4, "(B, Lk, N, D)");
  check_ndim(kAttF, "v", v, 4, "(B, Lk, N, Dv)");
  const std::int64_t B = q->shape[0], Lq = q->shape[1], N = q->shape[2], D = q->shape[3];
  const std::int64_t Lk = k->shape[1], Dv = v->shape[3];
  check_extent(kAttF, "batch size B (q.shape[0])", B);
  check_extent(kAttF, "query length Lq (q.shape[1])", Lq);
  check_extent(kAttF, "heads N (q.shape[2])", N);
  check_extent(kAttF, "head size D (q.shape[3])", D);
  check_extent(kAttF, "key length Lk (k.shape[1])", Lk);
  check_extent(kAttF, "value size Dv (v.shape[3])", Dv);
  if (B * N > 65535)  // the kernels' grid has one row of blocks per (b, n)
    value_error(kAttF, "B*N must be at most 65535 for the CUDA kernels, got " + std::to_string(B * N));
  check_shape(kAttF, "k", k, {B, Lk, N, D}, "(B, Lk, N, D) with B, N, D from q");
  check_shape(kAttF, "v", v, {B, Lk, N, Dv}, "(B, Lk, N, Dv) with B, N from q and Lk from k");
  Buf km = opt_buf(key_mask_obj), am = opt_buf(attn_mask_obj);
  if (km) check_bool(kAttF, "key_mask", km, {B, Lk}, "(B, Lk)");
  if (am) check_bool(kAttF, "attn_mask", am, {B, Lq, Lk}, "(B, Lq, Lk)");
  for (auto [name, b] : {std::pair<const char*, Buf>{"k", k}, {"v", v}, {"key_mask", km}, {"attn_mask", am}})
    if (b) check_device(kAttF, name, b, q->device);
  if (!std::isfinite(scale)) value_error(kAttF, "scale must be a finite number, got " + std::to_string(scale));
  if (!(dropout >= 0.0 && dropout < 1.0)) value_error(kAttF, "dropout must be in [0, 1), got " + std::to_string(dropout));
  if (dt == DType::f32 ? !cuda::attention_fits<float>(D, Dv) : !cuda::attention_fits<double>(D, Dv))
    value_error(kAttF, "head sizes (D, Dv) = (" + std::to_string(D) + ", " + std::to_string(Dv) +
                           ") need more shared memory than this GPU has for the CUDA kernel");
  cuda::set_device(kAttF, q->device);
  cuda::AttentionOptions opt{km ? km->data<std::uint8_t>() : nullptr, am ? am->data<std::uint8_t>() : nullptr,
                             causal, scale, dropout, seed, B, N, Lq, Lk, D, Dv};
  Buf o = empty(kAttF, {B, Lq, N, Dv}, q->typestr, q->device);
  Buf lse = empty(kAttF, {B, N, Lq}, q->typestr, q->device);
  if (dt == DType::f32)
    cuda::attention_forward<float>({o->data<float>(), lse->data<float>(), q->data<float>(),
                                    k->data<float>(), v->data<float>(), opt});
  else
    cuda::attention_forward<double>({o->data<double>(), lse->data<double>(), q->data<double>(),
                                     k->data<double>(), v->data<double>(), opt});
  auto saved = std::make_unique<AttentionSaved>(AttentionSaved{dt, opt, q, k, v, o, lse, km, am});
  return py::make_tuple(o, py::cast(std::move(saved)));
}

template <typename T>
void run_attention_backward(const AttentionSaved& s, const Buf& d, const Buf& dq, const Buf& dk,
                            const Buf& dv) {
  cuda::attention_backward<T>({dq->data<T>(), dk->data<T>(), dv->data<T>(), d->data<T>(),
                               s.o->data<T>(), s.lse->data<T>(), s.q->data<T>(), s.k->data<T>(),
                               s.v->data<T>(), s.opt});
}

py::tuple attention_backward(const py::object& do_obj, const AttentionSaved& s) {
  const auto& o = s.opt;
  const std::string& ts = s.q->typestr;
  const int dev = s.q->device;
  cuda::set_device(kAttB, dev);
  if (do_obj.is_none())
    return py::make_tuple(zeros(kAttB, {o.B, o.Lq, o.N, o.D}, ts, dev), zeros(kAttB, {o.B, o.Lk, o.N, o.D}, ts, dev),
                          zeros(kAttB, {o.B, o.Lk, o.N, o.Dv}, ts, dev));
  Buf d = do_obj.cast<Buf>();
  if (float_dtype(kAttB, "do", d) != s.dtype)
    type_error(kAttB, std::string("do must have the forward inputs' dtype ") + dtype_name(s.dtype) +
                          ", got dtype " + typestr_name(d->typestr));
  check_shape(kAttB, "do", d, {o.B, o.Lq, o.N, o.Dv}, "(B, Lq, N, Dv), the shape of o");
  check_device(kAttB, "do", d, dev);
  Buf dq = empty(kAttB, {o.B, o.Lq, o.N, o.D}, ts, dev), dk = empty(kAttB, {o.B, o.Lk, o.N, o.D}, ts, dev),
      dv = empty(kAttB, {o.B, o.Lk, o.N, o.Dv}, ts, dev);
  if (s.dtype == DType::f32) run_attention_backward<float>(s, d, dq, dk, dv);
  else run_attention_backward<double>(s, d, dq, dk, dv);
  return py::make_tuple(dq, dk, dv);
}


}  // namespace

void register_cuda_attention(py::module_& m) {
  namespace cuda = pyseq::cuda;
  py::class_<AttentionSaved>(m, "AttentionSaved", "What attention_backward needs (opaque, on the GPU).")
      .def_property_readonly("seed", [](const AttentionSaved& s) { return s.opt.seed; })
      .def_property_readonly("dropout", [](const AttentionSaved& s) { return s.opt.dropout; })
      .def_property_readonly("scale", [](const AttentionSaved& s) { return s.opt.scale; })
      .def_property_readonly("lse", [](const AttentionSaved& s) { return s.lse; })
      .def_property_readonly("nbytes", [](const AttentionSaved& s) { return s.lse->nbytes(); });
  m.def("attention_forward", &attention_forward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("scale"),
        py::arg("causal"), py::arg("key_mask"), py::arg("attn_mask"), py::arg("dropout"), py::arg("seed"));
  m.def("attention_backward", &attention_backward, py::arg("do"), py::arg("saved"));
  m.def("attention_dropout_mask", [](std::uint64_t seed, std::int64_t B, std::int64_t N, std::int64_t Lq,
                                     std::int64_t Lk, double p, int device) {
    const char* op = "attention_dropout_mask";
    if (!(p >= 0.0 && p < 1.0)) value_error(op, "p must be in [0, 1), got " + std::to_string(p));
    cuda::set_device(op, device);
    Buf keep = empty(op, {B, N, Lq, Lk}, "|b1", device);
    cuda::attention_dropout_mask(keep->data<std::uint8_t>(), seed, B, N, Lq, Lk, p);
    return keep;
  }, py::arg("seed"), py::arg("B"), py::arg("N"), py::arg("Lq"), py::arg("Lk"), py::arg("p"), py::arg("device") = 0);
}

}  // namespace pyseq::cudabind
