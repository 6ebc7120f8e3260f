// pybind11 front-end of the GRU kernels: validation, dtype dispatch, GIL release.
#include <cstdint>

#include "../cpu/gru.h"
#include "checks.h"
#include "rnn_checks.h"

namespace pyseq::bind {

namespace {

constexpr const char* kFwd = "gru_forward";
constexpr const char* kBwd = "gru_backward";
constexpr const char* kTok = "gru_forward_tokens";

// What backward needs, kept by forward. Opaque to Python.
struct GruSaved {
  DType dtype;
  std::int64_t B, T, I, H;
  bool reset_after, reverse, zero_output_for_mask;
  int unit_chunks;
  py::array gates, xh, hn, h_prev;         // kernel buffers (see cpu/gru.h); hn, h_prev may be empty
  py::array kernel, recurrent_kernel;      // contiguous inputs
  py::object mask, dropout_mask;           // contiguous arrays, or None
  SequenceInput seq;                       // x is not kept (xh holds it); token ids, table
};

template <typename T>
py::tuple forward(DType dt, const SequenceInput& in, std::int64_t B, std::int64_t T_,
                  std::int64_t I, const py::array& kernel_in, const py::array& rk_in,
                  const py::object& bias_obj, const py::object& h0_obj, const py::object& mask,
                  const py::object& drop_obj, bool reset_after, bool reverse,
                  bool zero_output_for_mask) {
  const char* op = in.tokens() ? kTok : kFwd;
  const std::int64_t H = rk_in.shape(0);
  py::object bias = reset_after
                        ? optional_float<T>(op, "bias", bias_obj, {2, 3 * H}, "(2, 3H) with reset_after=True", dt)
                        : optional_float<T>(op, "bias", bias_obj, {3 * H}, "(3H,) with reset_after=False", dt);
  py::object h0 = optional_float<T>(op, "h0", h0_obj, {B, H}, "(B, H)", dt);
  py::object drop = optional_float<T>(op, "recurrent_dropout_mask", drop_obj, {B, H}, "(B, H)", dt);
  const SequenceInput seq = in.contiguous_as<T>();
  py::array kernel = contiguous<T>(kernel_in), rk = contiguous<T>(rk_in);

  // xh holds no x columns with token inputs
  const std::int64_t XH = cpu::gru_xh_columns(seq.tokens() ? 0 : I, H, reset_after);
  const std::int64_t hn_rows = reset_after ? B * T_ : 0, hp_rows = drop.is_none() ? 0 : B * T_;
  py::array_t<T> y({B, T_, H}), h_last({B, H});
  py::array_t<T> gates({B, T_, 3 * H}), xh({B, T_, XH}), hn({hn_rows, H}), h_prev({hp_rows, H});
  int unit_chunks = 1;
  cpu::GruForward<T> a{y.mutable_data(), h_last.mutable_data(), gates.mutable_data(),
                       xh.mutable_data(), hn.mutable_data(), h_prev.mutable_data(), &unit_chunks,
                       ptr_or_null<T>(seq.x), seq.ids_ptr(), ptr_or_null<T>(seq.table), seq.V,
                       static_cast<const T*>(kernel.data()),
                       static_cast<const T*>(rk.data()), ptr_or_null<T>(bias), ptr_or_null<T>(h0),
                       mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(mask.cast<py::array>().data()),
                       ptr_or_null<T>(drop), B, T_, I, H, reset_after, reverse, zero_output_for_mask};
  {
    py::gil_scoped_release release;
    cpu::gru_forward<T>(a);
  }
  auto saved = std::make_unique<GruSaved>(GruSaved{dt, B, T_, I, H, reset_after, reverse,
                                                   zero_output_for_mask, unit_chunks, gates, xh,
                                                   hn, h_prev, kernel, rk, mask, drop,
                                                   SequenceInput{py::none(), seq.ids, seq.table, seq.V}});
  return py::make_tuple(y, h_last, py::cast(std::move(saved)));
}

py::tuple gru_forward(const py::object& x_obj, const py::object& kernel_obj,
                      const py::object& rk_obj, const py::object& bias_obj,
                      const py::object& h0_obj, bool reset_after, const py::object& mask_obj,
                      bool reverse, bool zero_output_for_mask, const py::object& drop_obj) {
  const RecurrentInputs in = check_recurrent_inputs(kFwd, x_obj, kernel_obj, rk_obj,
                                                    "(I, 3H)", "(H, 3H)");
  const DType dt = in.dt;
  const py::array &x = in.x, &kernel = in.kernel, &rk = in.recurrent_kernel;
  const std::int64_t B = in.B, T_ = in.T, I = in.I, H = in.H;
  // leading dimensions of the kernel's per-step views (saved rows of T steps): 32-bit BLAS
  check_extent(kFwd, "T*4H", T_ * 4 * H);
  check_extent(kFwd, "T*(I+2H+2)", T_ * (I + 2 * H + 2));
  check_recurrent_shapes(kFwd, in, 3, "(I, 3H)", "(H, 3H)");
  py::object mask = check_step_mask(kFwd, mask_obj, B, T_);
  const SequenceInput seq{x, py::none(), py::none(), 0};
  if (dt == DType::f32)
    return forward<float>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, mask, drop_obj,
                          reset_after, reverse, zero_output_for_mask);
  return forward<double>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, mask, drop_obj,
                         reset_after, reverse, zero_output_for_mask);
}

// gru_forward on x = table[ids], without forming x.
py::tuple gru_forward_tokens(const py::object& ids_obj, const py::object& table_obj,
                             const py::object& kernel_obj, const py::object& rk_obj,
                             const py::object& bias_obj, const py::object& h0_obj,
                             bool reset_after, const py::object& mask_obj, bool reverse,
                             bool zero_output_for_mask, const py::object& drop_obj) {
  const auto [in, seq] = check_token_inputs(kTok, ids_obj, table_obj, kernel_obj, rk_obj,
                                             "(I, 3H)", "(H, 3H)");
  const std::int64_t B = in.B, T_ = in.T, I = in.I, H = in.H;
  check_extent(kTok, "T*4H", T_ * 4 * H);
  check_extent(kTok, "T*(2H+2)", T_ * (2 * H + 2));
  check_recurrent_shapes(kTok, in, 3, "(I, 3H)", "(H, 3H)");
  py::object mask = check_step_mask(kTok, mask_obj, B, T_);
  if (in.dt == DType::f32)
    return forward<float>(in.dt, seq, B, T_, I, in.kernel, in.recurrent_kernel, bias_obj, h0_obj,
                          mask, drop_obj, reset_after, reverse, zero_output_for_mask);
  return forward<double>(in.dt, seq, B, T_, I, in.kernel, in.recurrent_kernel, bias_obj, h0_obj,
                         mask, drop_obj, reset_after, reverse, zero_output_for_mask);
}

template <typename T>
py::tuple backward(const GruSaved& s, const py::object& dy, const py::object& dh_last) {
  const std::int64_t B = s.B, T_ = s.T, I = s.I, H = s.H;
  std::vector<py::ssize_t> bias_shape = s.reset_after ? std::vector<py::ssize_t>{2, 3 * H}
                                                      : std::vector<py::ssize_t>{3 * H};
  const bool tokens = s.seq.tokens();
  py::array_t<T> dx = input_grad<T>(s.seq, B, T_, I);  // or d_table (V, I)
  py::array_t<T> dkernel({I, 3 * H}), drk({H, 3 * H}), dbias(bias_shape), dh0({B, H});
  cpu::GruBackward<T> a{tokens ? nullptr : dx.mutable_data(),
                        tokens ? dx.mutable_data() : nullptr, dkernel.mutable_data(),
                        drk.mutable_data(),
                        dbias.mutable_data(), dh0.mutable_data(),
                        ptr_or_null<T>(dy), ptr_or_null<T>(dh_last),
                        static_cast<const T*>(s.gates.data()), static_cast<const T*>(s.xh.data()),
                        static_cast<const T*>(s.hn.data()), static_cast<const T*>(s.h_prev.data()),
                        s.unit_chunks, static_cast<const T*>(s.kernel.data()),
                        static_cast<const T*>(s.recurrent_kernel.data()),
                        s.mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(s.mask.cast<py::array>().data()),
                        ptr_or_null<T>(s.dropout_mask), s.seq.ids_ptr(),
                        ptr_or_null<T>(s.seq.table), s.seq.V, B, T_, I, H, s.reset_after, s.reverse,
                        s.zero_output_for_mask};
  {
    py::gil_scoped_release release;
    cpu::gru_backward<T>(a);
  }
  return py::make_tuple(dx, dkernel, drk, dbias, dh0);
}

py::tuple gru_backward(const py::object& dy_obj, const py::object& dh_obj,
                       const py::object& saved_obj) {
  const GruSaved& s = check_saved<GruSaved>(kBwd, "gru_forward", saved_obj);
  py::object dy = upstream_grad(kBwd, s.dtype, "dy", dy_obj, {s.B, s.T, s.H}, "(B, T, H)");
  py::object dh = upstream_grad(kBwd, s.dtype, "dh_T", dh_obj, {s.B, s.H}, "(B, H)");
  if (s.dtype == DType::f32) return backward<float>(s, dy, dh);
  return backward<double>(s, dy, dh);
}

}  // namespace

void register_gru(py::module_& m) {
  py::class_<GruSaved>(m, "GRUSaved", "What gru_backward needs from gru_forward (opaque).")
      .def_property_readonly("nbytes", [](const GruSaved& s) {
        return s.gates.nbytes() + s.xh.nbytes() + s.hn.nbytes() + s.h_prev.nbytes();
      })
      .def("__repr__", [](const GruSaved& s) {
        return "<GRUSaved B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) +
               " I=" + std::to_string(s.I) + " H=" + std::to_string(s.H) +
               " reset_after=" + (s.reset_after ? "True" : "False") + " " +
               dtype_name(s.dtype) + ">";
      });
  m.def("gru_forward", &gru_forward, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"), py::arg("reset_after"),
        py::arg("mask"), py::arg("reverse"), py::arg("zero_output_for_mask"),
        py::arg("recurrent_dropout_mask"));
  m.def("gru_forward_tokens", &gru_forward_tokens, py::arg("ids"), py::arg("table"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"),
        py::arg("reset_after"), py::arg("mask"), py::arg("reverse"),
        py::arg("zero_output_for_mask"), py::arg("recurrent_dropout_mask"));
  m.def("gru_backward", &gru_backward, py::arg("dy"), py::arg("dh_T"), py::arg("saved"));
}

}  // namespace pyseq::bind
