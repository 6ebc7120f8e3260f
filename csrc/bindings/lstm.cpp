// pybind11 front-end of the LSTM kernels: validation, dtype dispatch, GIL release.
#include <cstdint>

#include "../cpu/lstm.h"
#include "checks.h"
#include "rnn_checks.h"

namespace pyseq::bind {

namespace {

constexpr const char* kFwd = "lstm_forward";
constexpr const char* kBwd = "lstm_backward";
constexpr const char* kTok = "lstm_forward_tokens";

// What backward needs, kept by forward. Opaque to Python.
struct LstmSaved {
  DType dtype;
  std::int64_t B, T, I, H;
  bool reverse, zero_output_for_mask;
  int unit_chunks;
  py::array gates, xh, c_in;               // kernel buffers (see cpu/lstm.h)
  py::array kernel, recurrent_kernel;      // contiguous inputs
  py::object mask, dropout_mask;          // contiguous arrays, or None
  SequenceInput seq;                      // x is not kept (xh holds it); token ids, table
};

template <typename T>
py::tuple forward(DType dt, const SequenceInput& in, std::int64_t B, std::int64_t T_,
                  std::int64_t I, const py::array& kernel_in, const py::array& rk_in,
                  const py::object& bias_obj, const py::object& h0_obj, const py::object& c0_obj,
                  const py::object& mask, const py::object& drop_obj, bool reverse,
                  bool zero_output_for_mask) {
  const char* op = in.tokens() ? kTok : kFwd;
  const std::int64_t H = rk_in.shape(0);
  py::object bias = optional_float<T>(op, "bias", bias_obj, {4 * H}, "(4H,)", dt);
  py::object h0 = optional_float<T>(op, "h0", h0_obj, {B, H}, "(B, H)", dt);
  py::object c0 = optional_float<T>(op, "c0", c0_obj, {B, H}, "(B, H)", dt);
  py::object drop = optional_float<T>(op, "recurrent_dropout_mask", drop_obj, {B, H}, "(B, H)", dt);
  const SequenceInput seq = in.contiguous_as<T>();
  py::array kernel = contiguous<T>(kernel_in), rk = contiguous<T>(rk_in);
  const std::int64_t XI = seq.tokens() ? 0 : I;  // xh holds no x with token inputs

  py::array_t<T> y({B, T_, H}), h_last({B, H}), c_last({B, H});
  py::array_t<T> gates({B, T_, 4 * H}), xh({B, T_, XI + 1 + H}), c_in({B, T_, H});
  int unit_chunks = 1;
  cpu::LstmForward<T> a{y.mutable_data(), h_last.mutable_data(), c_last.mutable_data(),
                        gates.mutable_data(), xh.mutable_data(), c_in.mutable_data(),
                        &unit_chunks,
                        ptr_or_null<T>(seq.x), seq.ids_ptr(), ptr_or_null<T>(seq.table), seq.V,
                        static_cast<const T*>(kernel.data()),
                        static_cast<const T*>(rk.data()), ptr_or_null<T>(bias),
                        ptr_or_null<T>(h0), ptr_or_null<T>(c0),
                        mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(mask.cast<py::array>().data()),
                        ptr_or_null<T>(drop), B, T_, I, H, reverse, zero_output_for_mask};
  {
    py::gil_scoped_release release;
    cpu::lstm_forward<T>(a);
  }
  auto saved = std::make_unique<LstmSaved>(LstmSaved{dt, B, T_, I, H, reverse, zero_output_for_mask,
                                                     unit_chunks, gates, xh, c_in, kernel, rk,
                                                     mask, drop,
                                                     SequenceInput{py::none(), seq.ids, seq.table, seq.V}});
  return py::make_tuple(y, h_last, c_last, py::cast(std::move(saved)));
}

py::tuple lstm_forward(const py::object& x_obj, const py::object& kernel_obj,
                       const py::object& rk_obj, const py::object& bias_obj,
                       const py::object& h0_obj, const py::object& c0_obj,
                       const py::object& mask_obj, bool reverse, bool zero_output_for_mask,
                       const py::object& drop_obj) {
  const RecurrentInputs in = check_recurrent_inputs(kFwd, x_obj, kernel_obj, rk_obj,
                                                    "(I, 4H)", "(H, 4H)");
  const DType dt = in.dt;
  const py::array &x = in.x, &kernel = in.kernel, &rk = in.recurrent_kernel;
  const std::int64_t B = in.B, T_ = in.T, I = in.I, H = in.H;
  check_extent(kFwd, "T*4H", T_ * 4 * H);
  check_recurrent_shapes(kFwd, in, 4, "(I, 4H)", "(H, 4H)");
  py::object mask = check_step_mask(kFwd, mask_obj, B, T_);
  const SequenceInput seq{x, py::none(), py::none(), 0};
  if (dt == DType::f32)
    return forward<float>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, c0_obj, mask, drop_obj,
                          reverse, zero_output_for_mask);
  return forward<double>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, c0_obj, mask, drop_obj,
                         reverse, zero_output_for_mask);
}

// lstm_forward on x = table[ids], without forming x.
py::tuple lstm_forward_tokens(const py::object& ids_obj, const py::object& table_obj,
                              const py::object& kernel_obj, const py::object& rk_obj,
                              const py::object& bias_obj, const py::object& h0_obj,
                              const py::object& c0_obj, const py::object& mask_obj, bool reverse,
                              bool zero_output_for_mask, const py::object& drop_obj) {
  const auto [in, seq] = check_token_inputs(kTok, ids_obj, table_obj, kernel_obj, rk_obj,
                                             "(I, 4H)", "(H, 4H)");
  const DType dt = in.dt;
  const py::array &kernel = in.kernel, &rk = in.recurrent_kernel;
  const std::int64_t B = in.B, T_ = in.T, I = in.I, H = in.H;
  check_extent(kTok, "T*4H", T_ * 4 * H);
  check_recurrent_shapes(kTok, in, 4, "(I, 4H)", "(H, 4H)");
  py::object mask = check_step_mask(kTok, mask_obj, B, T_);
  if (dt == DType::f32)
    return forward<float>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, c0_obj, mask, drop_obj,
                          reverse, zero_output_for_mask);
  return forward<double>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, c0_obj, mask, drop_obj,
                         reverse, zero_output_for_mask);
}

template <typename T>
py::tuple backward(const LstmSaved& s, const py::object& dy, const py::object& dh_last,
                   const py::object& dc_last) {
  const std::int64_t B = s.B, T_ = s.T, I = s.I, H = s.H;
  const bool tokens = s.seq.tokens();
  py::array_t<T> dx = input_grad<T>(s.seq, B, T_, I);  // or d_table (V, I)
  py::array_t<T> dkernel({I, 4 * H}), drk({H, 4 * H}), dbias({4 * H}), dh0({B, H}), dc0({B, H});
  cpu::LstmBackward<T> a{tokens ? nullptr : dx.mutable_data(),
                         tokens ? dx.mutable_data() : nullptr, dkernel.mutable_data(),
                         drk.mutable_data(),
                         dbias.mutable_data(), dh0.mutable_data(), dc0.mutable_data(),
                         ptr_or_null<T>(dy), ptr_or_null<T>(dh_last), ptr_or_null<T>(dc_last),
                         static_cast<const T*>(s.gates.data()), static_cast<const T*>(s.xh.data()),
                         static_cast<const T*>(s.c_in.data()), s.unit_chunks,
                         static_cast<const T*>(s.kernel.data()),
                         static_cast<const T*>(s.recurrent_kernel.data()),
                         s.mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(s.mask.cast<py::array>().data()),
                         ptr_or_null<T>(s.dropout_mask),
                         s.seq.ids_ptr(), ptr_or_null<T>(s.seq.table), s.seq.V, B, T_, I, H,
                         s.reverse,
                         s.zero_output_for_mask};
  {
    py::gil_scoped_release release;
    cpu::lstm_backward<T>(a);
  }
  return py::make_tuple(dx, dkernel, drk, dbias, dh0, dc0);
}

py::tuple lstm_backward(const py::object& dy_obj, const py::object& dh_obj,
                        const py::object& dc_obj, const py::object& saved_obj) {
  const LstmSaved& s = check_saved<LstmSaved>(kBwd, "lstm_forward", saved_obj);
  py::object dy = upstream_grad(kBwd, s.dtype, "dy", dy_obj, {s.B, s.T, s.H}, "(B, T, H)");
  py::object dh = upstream_grad(kBwd, s.dtype, "dh_T", dh_obj, {s.B, s.H}, "(B, H)");
  py::object dc = upstream_grad(kBwd, s.dtype, "dc_T", dc_obj, {s.B, s.H}, "(B, H)");
  if (s.dtype == DType::f32) return backward<float>(s, dy, dh, dc);
  return backward<double>(s, dy, dh, dc);
}

}  // namespace

void register_lstm(py::module_& m) {
  py::class_<LstmSaved>(m, "LSTMSaved",
                        "What lstm_backward needs from lstm_forward (opaque).")
      .def_property_readonly("nbytes", [](const LstmSaved& s) {
        return s.gates.nbytes() + s.xh.nbytes() + s.c_in.nbytes();
      })
      .def("__repr__", [](const LstmSaved& s) {
        return "<LSTMSaved B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) +
               " I=" + std::to_string(s.I) + " H=" + std::to_string(s.H) + " " +
               dtype_name(s.dtype) + ">";
      });
  m.def("lstm_forward", &lstm_forward, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"), py::arg("c0"),
        py::arg("mask"), py::arg("reverse"), py::arg("zero_output_for_mask"),
        py::arg("recurrent_dropout_mask"));
  m.def("lstm_forward_tokens", &lstm_forward_tokens, py::arg("ids"), py::arg("table"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"),
        py::arg("c0"), py::arg("mask"), py::arg("reverse"), py::arg("zero_output_for_mask"),
        py::arg("recurrent_dropout_mask"));
  m.def("lstm_backward", &lstm_backward, py::arg("dy"), py::arg("dh_T"), py::arg("dc_T"),
        py::arg("saved"));
}

}  // namespace pyseq::bind
