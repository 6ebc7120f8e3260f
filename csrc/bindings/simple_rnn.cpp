// pybind11 front-end of the SimpleRNN kernels: validation, dtype dispatch, GIL release.
#include <cstdint>
#include <string>

#include "../cpu/simple_rnn.h"
#include "checks.h"
#include "rnn_checks.h"

namespace pyseq::bind {

namespace {

constexpr const char* kFwd = "rnn_forward";
constexpr const char* kBwd = "rnn_backward";
constexpr const char* kTok = "rnn_forward_tokens";
constexpr const char* kActivations = "'tanh', 'relu', 'sigmoid', 'linear' or None";

// What backward needs, kept by forward. Opaque to Python.
struct RnnSaved {
  DType dtype;
  std::int64_t B, T, I, H;
  cpu::RnnActivation activation;
  bool reverse, zero_output_for_mask;
  py::array act, h_in;                         // kernel buffers (see cpu/simple_rnn.h)
  py::array kernel, recurrent_kernel;          // contiguous inputs
  py::object mask, dropout_mask;               // contiguous arrays, or None
  SequenceInput seq;                           // contiguous x, or token ids and table
};

const char* activation_name(cpu::RnnActivation a) {
  switch (a) {
    case cpu::RnnActivation::tanh: return "tanh";
    case cpu::RnnActivation::relu: return "relu";
    case cpu::RnnActivation::sigmoid: return "sigmoid";
    default: return "linear";
  }
}

// The activation by name; None is Keras's "linear" (no activation).
cpu::RnnActivation parse_activation(const char* op, const py::object& obj) {
  if (obj.is_none()) return cpu::RnnActivation::linear;
  if (!py::isinstance<py::str>(obj))
    type_error(op, std::string("activation must be a str (") + kActivations + "), got " +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  const std::string name = obj.cast<std::string>();
  for (auto a : {cpu::RnnActivation::tanh, cpu::RnnActivation::relu, cpu::RnnActivation::sigmoid,
                 cpu::RnnActivation::linear})
    if (name == activation_name(a)) return a;
  value_error(op, std::string("activation must be one of ") + kActivations + ", got '" + name +
                        "'");
}

template <typename T>
py::tuple forward(DType dt, const SequenceInput& in, std::int64_t B, std::int64_t T_,
                  std::int64_t I, const py::array& kernel_in, const py::array& rk_in,
                  const py::object& bias_obj, const py::object& h0_obj, const py::object& mask,
                  const py::object& drop_obj, cpu::RnnActivation act, bool reverse,
                  bool zero_output_for_mask) {
  const char* op = in.tokens() ? kTok : kFwd;
  const std::int64_t H = rk_in.shape(0);
  py::object bias = optional_float<T>(op, "bias", bias_obj, {H}, "(H,)", dt);
  py::object h0 = optional_float<T>(op, "h0", h0_obj, {B, H}, "(B, H)", dt);
  py::object drop = optional_float<T>(op, "recurrent_dropout_mask", drop_obj, {B, H}, "(B, H)", dt);
  const SequenceInput seq = in.contiguous_as<T>();
  py::array kernel = contiguous<T>(kernel_in), rk = contiguous<T>(rk_in);

  py::array_t<T> y({B, T_, H}), h_last({B, H}), act_buf({B, T_, H}), h_in({B, T_, H});
  cpu::RnnForward<T> a{y.mutable_data(), h_last.mutable_data(), act_buf.mutable_data(),
                       h_in.mutable_data(),
                       ptr_or_null<T>(seq.x), seq.ids_ptr(), ptr_or_null<T>(seq.table), seq.V,
                       static_cast<const T*>(kernel.data()),
                       static_cast<const T*>(rk.data()), ptr_or_null<T>(bias), ptr_or_null<T>(h0),
                       mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(mask.cast<py::array>().data()),
                       ptr_or_null<T>(drop), B, T_, I, H, act, reverse, zero_output_for_mask};
  {
    py::gil_scoped_release release;
    cpu::rnn_forward<T>(a);
  }
  auto saved = std::make_unique<RnnSaved>(RnnSaved{dt, B, T_, I, H, act, reverse,
                                                   zero_output_for_mask, act_buf, h_in, kernel,
                                                   rk, mask, drop, seq});
  return py::make_tuple(y, h_last, py::cast(std::move(saved)));
}

py::tuple rnn_forward(const py::object& x_obj, const py::object& kernel_obj,
                      const py::object& rk_obj, const py::object& bias_obj,
                      const py::object& h0_obj, const py::object& activation_obj,
                      const py::object& mask_obj, bool reverse, bool zero_output_for_mask,
                      const py::object& drop_obj) {
  const cpu::RnnActivation act = parse_activation(kFwd, activation_obj);
  const RecurrentInputs in = check_recurrent_inputs(kFwd, x_obj, kernel_obj, rk_obj,
                                                    "(I, H)", "(H, H)");
  const DType dt = in.dt;
  const py::array &x = in.x, &kernel = in.kernel, &rk = in.recurrent_kernel;
  const std::int64_t B = in.B, T_ = in.T, I = in.I, H = in.H;
  check_extent(kFwd, "T*H", T_ * H);
  check_recurrent_shapes(kFwd, in, 1, "(I, H)", "(H, H)");
  py::object mask = check_step_mask(kFwd, mask_obj, B, T_);
  const SequenceInput seq{x, py::none(), py::none(), 0};
  if (dt == DType::f32)
    return forward<float>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, mask, drop_obj, act,
                          reverse, zero_output_for_mask);
  return forward<double>(dt, seq, B, T_, I, kernel, rk, bias_obj, h0_obj, mask, drop_obj, act,
                         reverse, zero_output_for_mask);
}

// rnn_forward on x = table[ids], without forming x.
py::tuple rnn_forward_tokens(const py::object& ids_obj, const py::object& table_obj,
                             const py::object& kernel_obj, const py::object& rk_obj,
                             const py::object& bias_obj, const py::object& h0_obj,
                             const py::object& activation_obj, const py::object& mask_obj,
                             bool reverse, bool zero_output_for_mask, const py::object& drop_obj) {
  const cpu::RnnActivation act = parse_activation(kTok, activation_obj);
  const auto [in, seq] = check_token_inputs(kTok, ids_obj, table_obj, kernel_obj, rk_obj,
                                             "(I, H)", "(H, H)");
  const std::int64_t B = in.B, T_ = in.T, I = in.I, H = in.H;
  check_extent(kTok, "T*H", T_ * H);
  check_recurrent_shapes(kTok, in, 1, "(I, H)", "(H, H)");
  py::object mask = check_step_mask(kTok, mask_obj, B, T_);
  if (in.dt == DType::f32)
    return forward<float>(in.dt, seq, B, T_, I, in.kernel, in.recurrent_kernel, bias_obj, h0_obj,
                          mask, drop_obj, act, reverse, zero_output_for_mask);
  return forward<double>(in.dt, seq, B, T_, I, in.kernel, in.recurrent_kernel, bias_obj, h0_obj,
                         mask, drop_obj, act, reverse, zero_output_for_mask);
}

template <typename T>
py::tuple backward(const RnnSaved& s, const py::object& dy, const py::object& dh_last) {
  const std::int64_t B = s.B, T_ = s.T, I = s.I, H = s.H;
  const bool tokens = s.seq.tokens();
  py::array_t<T> dx = input_grad<T>(s.seq, B, T_, I);  // or d_table (V, I)
  py::array_t<T> dkernel({I, H}), drk({H, H}), dbias({H}), dh0({B, H});
  cpu::RnnBackward<T> a{tokens ? nullptr : dx.mutable_data(),
                        tokens ? dx.mutable_data() : nullptr, dkernel.mutable_data(),
                        drk.mutable_data(),
                        dbias.mutable_data(), dh0.mutable_data(),
                        ptr_or_null<T>(dy), ptr_or_null<T>(dh_last),
                        static_cast<const T*>(s.act.data()), static_cast<const T*>(s.h_in.data()),
                        ptr_or_null<T>(s.seq.x), static_cast<const T*>(s.kernel.data()),
                        static_cast<const T*>(s.recurrent_kernel.data()),
                        s.mask.is_none() ? nullptr : static_cast<const std::uint8_t*>(s.mask.cast<py::array>().data()),
                        ptr_or_null<T>(s.dropout_mask), s.seq.ids_ptr(),
                        ptr_or_null<T>(s.seq.table), s.seq.V, B, T_, I, H, s.activation, s.reverse,
                        s.zero_output_for_mask};
  {
    py::gil_scoped_release release;
    cpu::rnn_backward<T>(a);
  }
  return py::make_tuple(dx, dkernel, drk, dbias, dh0);
}

py::tuple rnn_backward(const py::object& dy_obj, const py::object& dh_obj,
                       const py::object& saved_obj) {
  const RnnSaved& s = check_saved<RnnSaved>(kBwd, "rnn_forward", saved_obj);
  py::object dy = upstream_grad(kBwd, s.dtype, "dy", dy_obj, {s.B, s.T, s.H}, "(B, T, H)");
  py::object dh = upstream_grad(kBwd, s.dtype, "dh_T", dh_obj, {s.B, s.H}, "(B, H)");
  if (s.dtype == DType::f32) return backward<float>(s, dy, dh);
  return backward<double>(s, dy, dh);
}

}  // namespace

void register_simple_rnn(py::module_& m) {
  py::class_<RnnSaved>(m, "RNNSaved", "What rnn_backward needs from rnn_forward (opaque).")
      .def_property_readonly("nbytes", [](const RnnSaved& s) {
        return s.act.nbytes() + s.h_in.nbytes();
      })
      .def("__repr__", [](const RnnSaved& s) {
        return "<RNNSaved B=" + std::to_string(s.B) + " T=" + std::to_string(s.T) +
               " I=" + std::to_string(s.I) + " H=" + std::to_string(s.H) + " " +
               activation_name(s.activation) + " " + dtype_name(s.dtype) + ">";
      });
  m.def("rnn_forward", &rnn_forward, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"), py::arg("activation"),
        py::arg("mask"), py::arg("reverse"), py::arg("zero_output_for_mask"),
        py::arg("recurrent_dropout_mask"));
  m.def("rnn_forward_tokens", &rnn_forward_tokens, py::arg("ids"), py::arg("table"),
        py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"),
        py::arg("activation"), py::arg("mask"), py::arg("reverse"),
        py::arg("zero_output_for_mask"), py::arg("recurrent_dropout_mask"));
  m.def("rnn_backward", &rnn_backward, py::arg("dy"), py::arg("dh_T"), py::arg("saved"));
}

}  // namespace pyseq::bind
