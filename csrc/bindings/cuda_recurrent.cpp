// pyseq._cuda front-end of the recurrent kernels (csrc/cuda/lstm.cu, gru.cu, simple_rnn.cu): checks,
// buffers, saved state.
#include <algorithm>
#include <cmath>

#include "cuda_buffer.h"

namespace pyseq::cudabind {

namespace {

// ---- recurrent families ----------------------------------------------------------------------
// The inputs every recurrent family validates alike: x (B,T,I), kernel (I,G·H),
// recurrent_kernel (H,G·H), h0 (B,H), mask (B,T) bool, recurrent_dropout_mask (B,H).
struct RecurrentInputs {
  DType dt;
  std::int64_t B, T_, I, H;
  Buf x, kernel, recurrent, h0, mask, drop;
};

RecurrentInputs recurrent_inputs(const char* op, int G, const char* kernel_formula,
                                 const char* recurrent_formula, const Buf& x, const Buf& kernel,
                                 const Buf& recurrent, const py::object& h0_obj,
                                 const py::object& mask_obj, const py::object& drop_obj) {
  const DType dt = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, I)");
  const std::int64_t B = x->shape[0], T_ = x->shape[1], I = x->shape[2];
  check_extent(op, "batch size B (x.shape[0])", B);
  check_extent(op, "steps T (x.shape[1])", T_);
  check_extent(op, "input features I (x.shape[2])", I);
  check_float(op, "recurrent_kernel", recurrent, dt);
  check_ndim(op, "recurrent_kernel", recurrent, 2, recurrent_formula);
  const std::int64_t H = recurrent->shape[0];
  check_extent(op, "hidden units H (recurrent_kernel.shape[0])", H);
  check_extent(op, "B*T", B * T_);
  check_extent(op, "gate columns G*H", G * H);
  check_shape(op, "recurrent_kernel", recurrent, {H, G * H}, recurrent_formula);
  check_float(op, "kernel", kernel, dt);
  check_shape(op, "kernel", kernel, {I, G * H}, kernel_formula);
  Buf h0 = opt_buf(h0_obj), mask = opt_buf(mask_obj), drop = opt_buf(drop_obj);
  if (h0) { check_float(op, "h0", h0, dt); check_shape(op, "h0", h0, {B, H}, "(B, H)"); }
  if (mask) check_bool(op, "mask", mask, {B, T_}, "(B, T)");
  if (drop) {
    check_float(op, "recurrent_dropout_mask", drop, dt);
    check_shape(op, "recurrent_dropout_mask", drop, {B, H}, "(B, H)");
  }
  for (auto [name, b] : {std::pair<const char*, Buf>{"kernel", kernel}, {"recurrent_kernel", recurrent},
                         {"h0", h0}, {"mask", mask}, {"recurrent_dropout_mask", drop}})
    if (b) check_device(op, name, b, x->device);
  cuda::set_device(op, x->device);
  return RecurrentInputs{dt, B, T_, I, H, x, kernel, recurrent, h0, mask, drop};
}

// What every recurrent backward needs from its forward, plus the family's saved buffers.
struct RecurrentSaved {
  RecurrentInputs in;
  bool reverse, zero_output_for_mask;
  Buf h_in, first_valid;
  int device() const { return in.x->device; }
  const std::string& typestr() const { return in.x->typestr; }
};

RecurrentSaved recurrent_saved(const char* op, const RecurrentInputs& in, bool reverse, bool zero_output) {
  return RecurrentSaved{in, reverse, zero_output, empty(op, {in.B, in.T_, in.H}, in.x->typestr, in.x->device),
                        empty(op, {in.B}, "<i4", in.x->device)};
}

// The gradients every recurrent backward returns: dx (B,T,I), dkernel (I,G·H), drecurrent_kernel
// (H,G·H), dbias (bias_shape), dh0 (B,H).
struct RecurrentGrads {
  Buf dx, dW, dU, db, dh0;
};

RecurrentGrads recurrent_grads(const char* op, const RecurrentSaved& r, std::int64_t G, const Shape& bias_shape) {
  const RecurrentInputs& in = r.in;
  const int dev = r.device();
  const std::string& ts = r.typestr();
  return RecurrentGrads{empty(op, {in.B, in.T_, in.I}, ts, dev), empty(op, {in.I, G * in.H}, ts, dev),
                        empty(op, {in.H, G * in.H}, ts, dev), empty(op, bias_shape, ts, dev),
                        empty(op, {in.B, in.H}, ts, dev)};
}


// ---- LSTM ---------------------------------------------------------------------------------------
constexpr const char* kLstmF = "lstm_forward";
constexpr const char* kLstmB = "lstm_backward";

struct LstmSaved {
  RecurrentSaved r;
  Buf gates, c_in;
};

py::tuple lstm_forward(const Buf& x, const Buf& kernel, const Buf& recurrent, const py::object& bias_obj,
                       const py::object& h0_obj, const py::object& c0_obj, const py::object& mask_obj,
                       bool reverse, bool zero_output_for_mask, const py::object& dropout_obj) {
  const char* op = kLstmF;
  RecurrentInputs in = recurrent_inputs(op, 4, "(I, 4H)", "(H, 4H)", x, kernel, recurrent, h0_obj, mask_obj,
                                        dropout_obj);
  const std::int64_t B = in.B, T_ = in.T_, H = in.H;
  const int dev = x->device;
  const std::string& ts = x->typestr;
  Buf bias = optional_float(op, "bias", bias_obj, in.dt, {4 * H}, "(4H,)", dev);
  Buf c0 = optional_float(op, "c0", c0_obj, in.dt, {B, H}, "(B, H)", dev);
  auto saved = std::make_unique<LstmSaved>(LstmSaved{recurrent_saved(op, in, reverse, zero_output_for_mask),
                                                     empty(op, {B, T_, 4 * H}, ts, dev), empty(op, {B, T_, H}, ts, dev)});
  Buf y = empty(op, {B, T_, H}, ts, dev), h = empty(op, {B, H}, ts, dev), c = empty(op, {B, H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const RecurrentSaved& r = saved->r;
    cuda::lstm_forward<T>({y->data<T>(), h->data<T>(), c->data<T>(), saved->gates->data<T>(), r.h_in->data<T>(),
                           saved->c_in->data<T>(), r.first_valid->data<std::int32_t>(), x->data<T>(),
                           kernel->data<T>(), recurrent->data<T>(), p_<T>(bias), p_<T>(in.h0), p_<T>(c0),
                           mask_p(in.mask), p_<T>(in.drop), B, T_, in.I, H, reverse, zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(y, h, c, py::cast(std::move(saved)));
}

py::tuple lstm_backward(const py::object& dy_obj, const py::object& dh_obj, const py::object& dc_obj,
                        const LstmSaved& s) {
  const char* op = kLstmB;
  const RecurrentSaved& r = s.r;
  const RecurrentInputs& in = r.in;
  const int dev = r.device();
  const std::string& ts = r.typestr();
  const std::int64_t B = in.B, T_ = in.T_, I = in.I, H = in.H;
  Buf dy = opt_buf(dy_obj), dh = opt_buf(dh_obj), dc = opt_buf(dc_obj);
  check_upstream(op, in.dt, dev, {{"dy", dy, {B, T_, H}, "(B, T, H)"}, {"dh_T", dh, {B, H}, "(B, H)"},
                                  {"dc_T", dc, {B, H}, "(B, H)"}});
  const RecurrentGrads g = recurrent_grads(op, r, 4, {4 * H});
  Buf dc0 = empty(op, {B, H}, ts, dev), dz = empty(op, {B, T_, 4 * H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    cuda::lstm_backward<T>({g.dx->data<T>(), g.dW->data<T>(), g.dU->data<T>(), g.db->data<T>(), g.dh0->data<T>(),
                            dc0->data<T>(), dz->data<T>(), p_<T>(dy), p_<T>(dh), p_<T>(dc), s.gates->data<T>(),
                            r.h_in->data<T>(), s.c_in->data<T>(), r.first_valid->data<std::int32_t>(),
                            in.x->data<T>(), in.kernel->data<T>(), in.recurrent->data<T>(), mask_p(in.mask),
                            p_<T>(in.drop), B, T_, I, H, r.reverse, r.zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(g.dx, g.dW, g.dU, g.db, g.dh0, dc0);
}

// ---- GRU (reset_after=True; pyseq/_gpu_ops.py refuses the other form) --------------------------
constexpr const char* kGruF = "gru_forward";
constexpr const char* kGruB = "gru_backward";

struct GruSaved {
  RecurrentSaved r;
  Buf gates, hn, h_prev;
};

py::tuple gru_forward(const Buf& x, const Buf& kernel, const Buf& recurrent, const py::object& bias_obj,
                      const py::object& h0_obj, const py::object& mask_obj, bool reverse,
                      bool zero_output_for_mask, const py::object& dropout_obj) {
  const char* op = kGruF;
  RecurrentInputs in = recurrent_inputs(op, 3, "(I, 3H)", "(H, 3H)", x, kernel, recurrent, h0_obj, mask_obj,
                                        dropout_obj);
  const std::int64_t B = in.B, T_ = in.T_, H = in.H;
  const int dev = x->device;
  const std::string& ts = x->typestr;
  Buf bias = optional_float(op, "bias", bias_obj, in.dt, {2, 3 * H}, "(2, 3H) with reset_after=True", dev);
  auto saved = std::make_unique<GruSaved>(GruSaved{recurrent_saved(op, in, reverse, zero_output_for_mask),
                                                   empty(op, {B, T_, 3 * H}, ts, dev), empty(op, {B, T_, H}, ts, dev),
                                                   empty(op, {B, T_, H}, ts, dev)});
  Buf y = empty(op, {B, T_, H}, ts, dev), h = empty(op, {B, H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const RecurrentSaved& r = saved->r;
    cuda::gru_forward<T>({y->data<T>(), h->data<T>(), saved->gates->data<T>(), saved->hn->data<T>(),
                          saved->h_prev->data<T>(), r.h_in->data<T>(), r.first_valid->data<std::int32_t>(),
                          x->data<T>(), kernel->data<T>(), recurrent->data<T>(), p_<T>(bias), p_<T>(in.h0),
                          mask_p(in.mask), p_<T>(in.drop), B, T_, in.I, H, reverse, zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(y, h, py::cast(std::move(saved)));
}

py::tuple gru_backward(const py::object& dy_obj, const py::object& dh_obj, const GruSaved& s) {
  const char* op = kGruB;
  const RecurrentSaved& r = s.r;
  const RecurrentInputs& in = r.in;
  const int dev = r.device();
  const std::string& ts = r.typestr();
  const std::int64_t B = in.B, T_ = in.T_, I = in.I, H = in.H;
  Buf dy = opt_buf(dy_obj), dh = opt_buf(dh_obj);
  check_upstream(op, in.dt, dev, {{"dy", dy, {B, T_, H}, "(B, T, H)"}, {"dh_T", dh, {B, H}, "(B, H)"}});
  const RecurrentGrads g = recurrent_grads(op, r, 3, {2, 3 * H});
  Buf dgx = empty(op, {B, T_, 3 * H}, ts, dev), da = empty(op, {B, T_, 3 * H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    cuda::gru_backward<T>({g.dx->data<T>(), g.dW->data<T>(), g.dU->data<T>(), g.db->data<T>(), g.dh0->data<T>(),
                           dgx->data<T>(), da->data<T>(), p_<T>(dy), p_<T>(dh), s.gates->data<T>(),
                           s.hn->data<T>(), s.h_prev->data<T>(), r.h_in->data<T>(),
                           r.first_valid->data<std::int32_t>(), in.x->data<T>(), in.kernel->data<T>(),
                           in.recurrent->data<T>(), mask_p(in.mask), p_<T>(in.drop), B, T_, I, H, r.reverse,
                           r.zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(g.dx, g.dW, g.dU, g.db, g.dh0);
}

// ---- SimpleRNN ----------------------------------------------------------------------------------
constexpr const char* kRnnF = "rnn_forward";
constexpr const char* kRnnB = "rnn_backward";

struct RnnSaved {
  RecurrentSaved r;
  Buf act;
  cuda::RnnActivation activation;
};

py::tuple rnn_forward(const Buf& x, const Buf& kernel, const Buf& recurrent, const py::object& bias_obj,
                      const py::object& h0_obj, int activation, const py::object& mask_obj, bool reverse,
                      bool zero_output_for_mask, const py::object& dropout_obj) {
  const char* op = kRnnF;
  if (activation < 0 || activation > 3) value_error(op, "activation code must be in [0, 3]");
  RecurrentInputs in = recurrent_inputs(op, 1, "(I, H)", "(H, H)", x, kernel, recurrent, h0_obj, mask_obj,
                                        dropout_obj);
  const std::int64_t B = in.B, T_ = in.T_, H = in.H;
  const int dev = x->device;
  const std::string& ts = x->typestr;
  Buf bias = optional_float(op, "bias", bias_obj, in.dt, {H}, "(H,)", dev);
  const auto act = static_cast<cuda::RnnActivation>(activation);
  auto saved = std::make_unique<RnnSaved>(RnnSaved{recurrent_saved(op, in, reverse, zero_output_for_mask),
                                                   empty(op, {B, T_, H}, ts, dev), act});
  Buf y = empty(op, {B, T_, H}, ts, dev), h = empty(op, {B, H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const RecurrentSaved& r = saved->r;
    cuda::rnn_forward<T>({y->data<T>(), h->data<T>(), saved->act->data<T>(), r.h_in->data<T>(),
                          r.first_valid->data<std::int32_t>(), x->data<T>(), kernel->data<T>(),
                          recurrent->data<T>(), p_<T>(bias), p_<T>(in.h0), mask_p(in.mask), p_<T>(in.drop), act,
                          B, T_, in.I, H, reverse, zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(y, h, py::cast(std::move(saved)));
}

py::tuple rnn_backward(const py::object& dy_obj, const py::object& dh_obj, const RnnSaved& s) {
  const char* op = kRnnB;
  const RecurrentSaved& r = s.r;
  const RecurrentInputs& in = r.in;
  const int dev = r.device();
  const std::string& ts = r.typestr();
  const std::int64_t B = in.B, T_ = in.T_, I = in.I, H = in.H;
  Buf dy = opt_buf(dy_obj), dh = opt_buf(dh_obj);
  check_upstream(op, in.dt, dev, {{"dy", dy, {B, T_, H}, "(B, T, H)"}, {"dh_T", dh, {B, H}, "(B, H)"}});
  const RecurrentGrads g = recurrent_grads(op, r, 1, {H});
  Buf dz = empty(op, {B, T_, H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    cuda::rnn_backward<T>({g.dx->data<T>(), g.dW->data<T>(), g.dU->data<T>(), g.db->data<T>(), g.dh0->data<T>(),
                           dz->data<T>(), p_<T>(dy), p_<T>(dh), s.act->data<T>(), r.h_in->data<T>(),
                           r.first_valid->data<std::int32_t>(), in.x->data<T>(), in.kernel->data<T>(),
                           in.recurrent->data<T>(), mask_p(in.mask), p_<T>(in.drop), s.activation, B, T_, I, H,
                           r.reverse, r.zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(g.dx, g.dW, g.dU, g.db, g.dh0);
}


}  // namespace

void register_cuda_recurrent(py::module_& m) {
  namespace cuda = pyseq::cuda;
  py::class_<LstmSaved>(m, "LstmSaved", "What lstm_backward needs (opaque, on the GPU).");
  m.def("lstm_forward", &lstm_forward, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("bias"), py::arg("h0"), py::arg("c0"), py::arg("mask"), py::arg("reverse"),
        py::arg("zero_output_for_mask"), py::arg("recurrent_dropout_mask"));
  m.def("lstm_backward", &lstm_backward, py::arg("dy"), py::arg("dh_T"), py::arg("dc_T"), py::arg("saved"));

  py::class_<GruSaved>(m, "GruSaved", "What gru_backward needs (opaque, on the GPU).");
  m.def("gru_forward", &gru_forward, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("bias"), py::arg("h0"), py::arg("mask"), py::arg("reverse"), py::arg("zero_output_for_mask"),
        py::arg("recurrent_dropout_mask"));
  m.def("gru_backward", &gru_backward, py::arg("dy"), py::arg("dh_T"), py::arg("saved"));

  py::class_<RnnSaved>(m, "RnnSaved", "What rnn_backward needs (opaque, on the GPU).");
  m.def("rnn_forward", &rnn_forward, py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("bias"), py::arg("h0"), py::arg("activation"), py::arg("mask"), py::arg("reverse"),
        py::arg("zero_output_for_mask"), py::arg("recurrent_dropout_mask"));
  m.def("rnn_backward", &rnn_backward, py::arg("dy"), py::arg("dh_T"), py::arg("saved"));
}

}  // namespace pyseq::cudabind
