// pybind11 module pyseq._cuda (PYSEQ_CUDA=ON only): device buffers and the CUDA ops' front-end.
// pyseq/_device.py turns GPU arrays (__cuda_array_interface__) into DeviceBuffer views (or
// contiguous copies) and calls these functions; validation of shapes and dtypes happens here,
// with the CPU bindings' messages, then the kernels of csrc/cuda/ run on the legacy default
// stream. Results are DeviceBuffers that own pyseq's allocations and expose
// __cuda_array_interface__, which _device.py hands back to the caller's array library.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <tuple>
#include <string>
#include <vector>

#include "../cuda/cuda.h"
#include "../cuda/cuda_ops.h"

namespace py = pybind11;

namespace pyseq::cudabind {

namespace {

[[noreturn]] void value_error(const char* op, const std::string& msg) {
  throw py::value_error(std::string("[") + op + "] " + msg);
}
[[noreturn]] void type_error(const char* op, const std::string& msg) {
  throw py::type_error(std::string("[") + op + "] " + msg);
}

using Shape = std::vector<std::int64_t>;

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (std::size_t d = 0; d < s.size(); ++d) out += (d ? ", " : "") + std::to_string(s[d]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto e : s) n *= e;
  return n;
}

int itemsize_of(const std::string& typestr) {
  if (typestr == "<f4") return 4;
  if (typestr == "<f8") return 8;
  if (typestr == "|b1") return 1;
  if (typestr == "<i4") return 4;  // pyseq's own index buffers; inputs of it fail the dtype checks
  return 0;
}

// Device memory of one dtype and C-contiguous shape: pyseq's own (owned) or a view of a caller's
// array, kept alive through `owner`.
struct DeviceBuffer {
  void* ptr = nullptr;
  bool owned = false;
  Shape shape;
  std::string typestr;  // "<f4", "<f8" or "|b1"
  int device = 0;
  py::object owner;

  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (owned) cuda::device_free(ptr);
  }
  std::size_t nbytes() const { return std::size_t(numel(shape)) * itemsize_of(typestr); }
  template <typename T> T* data() const { return static_cast<T*>(ptr); }
};

using Buf = std::shared_ptr<DeviceBuffer>;

Buf empty(const char* op, const Shape& shape, const std::string& typestr, int device) {
  auto b = std::make_shared<DeviceBuffer>();
  b->shape = shape;
  b->typestr = typestr;
  b->device = device;
  b->ptr = cuda::device_alloc(op, b->nbytes());
  b->owned = true;
  return b;
}

Buf zeros(const char* op, const Shape& shape, const std::string& typestr, int device) {
  Buf b = empty(op, shape, typestr, device);
  cuda::zero(op, b->ptr, b->nbytes());
  return b;
}

// A caller's array (pointer, shape, strides in bytes or None, typestr) as a contiguous buffer on
// its device: a view when already C-contiguous, else a strided copy.
Buf from_interface(const char* op, std::uintptr_t ptr, const Shape& shape, const py::object& strides,
                   const std::string& typestr, const py::object& owner, std::uintptr_t stream) {
  const int item = itemsize_of(typestr);
  if (item == 0)
    type_error(op, "GPU arrays must be float32, float64 or bool, got typestr '" + typestr + "'");
  const int device = numel(shape) ? cuda::pointer_device(op, reinterpret_cast<void*>(ptr)) : 0;
  cuda::set_device(op, device);
  cuda::wait_for_stream(op, stream);
  bool contiguous = strides.is_none();
  Shape st;
  if (!contiguous) {
    st = strides.cast<Shape>();
    contiguous = true;
    std::int64_t expect = item;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      if (shape[d] != 1 && st[d] != expect) contiguous = false;
      expect *= shape[d];
    }
  }
  if (contiguous) {
    auto b = std::make_shared<DeviceBuffer>();
    b->ptr = reinterpret_cast<void*>(ptr);
    b->shape = shape;
    b->typestr = typestr;
    b->device = device;
    b->owner = owner;
    return b;
  }
  Buf b = empty(op, shape, typestr, device);
  cuda::copy_strided(op, b->ptr, reinterpret_cast<const void*>(ptr), int(shape.size()),
                     shape.data(), st.data(), item);
  return b;
}

py::dict cuda_array_interface(const DeviceBuffer& b) {
  py::dict d;
  d["shape"] = py::tuple(py::cast(b.shape));
  d["typestr"] = b.typestr;
  d["data"] = py::make_tuple(reinterpret_cast<std::uintptr_t>(b.ptr), false);
  d["strides"] = py::none();
  d["version"] = 3;
  d["stream"] = 1;  // written on the legacy default stream
  return d;
}

// ---- checks (the CPU bindings' wording) -----------------------------------------------------------
enum class DType { f32, f64 };
const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }
const char* typestr_name(const std::string& t) {
  return t == "<f4" ? "float32" : t == "<f8" ? "float64" : t == "|b1" ? "bool" : "other";
}

DType float_dtype(const char* op, const char* name, const Buf& b) {
  if (b->typestr == "<f4") return DType::f32;
  if (b->typestr == "<f8") return DType::f64;
  type_error(op, std::string(name) + " must be float32 or float64, got dtype " + typestr_name(b->typestr));
}

void check_float(const char* op, const char* name, const Buf& b, DType want) {
  if (float_dtype(op, name, b) != want)
    type_error(op, std::string(name) + " must have the dtype " + dtype_name(want) + " of the first input, got dtype " +
                       typestr_name(b->typestr));
}

void check_ndim(const char* op, const char* name, const Buf& b, std::size_t ndim, const char* dims) {
  if (b->shape.size() != ndim)
    value_error(op, std::string(name) + " must be " + std::to_string(ndim) + "-D " + dims + ", got shape " +
                        shape_str(b->shape));
}

void check_shape(const char* op, const char* name, const Buf& b, const Shape& want, const char* formula) {
  if (b->shape != want)
    value_error(op, std::string(name) + " must be " + formula + " = " + shape_str(want) + ", got " +
                        shape_str(b->shape));
}

void check_extent(const char* op, const char* what, std::int64_t v) {
  if (v < 1 || v > 2147483647)
    value_error(op, std::string(what) + " must be in [1, 2**31), got " + std::to_string(v));
}

void check_bool(const char* op, const char* name, const Buf& b, const Shape& want, const char* formula) {
  if (b->typestr != "|b1")
    type_error(op, std::string(name) + " must be a bool array, got dtype " + typestr_name(b->typestr));
  check_shape(op, name, b, want, formula);
}

void check_device(const char* op, const char* name, const Buf& b, int device) {
  if (b->device != device)
    value_error(op, std::string(name) + " is on GPU " + std::to_string(b->device) +
                        ", the first input on GPU " + std::to_string(device) + ": all inputs must share one device");
}

Buf opt_buf(const py::object& o) { return o.is_none() ? nullptr : o.cast<Buf>(); }
template <typename T> const T* ptr_or_null(const Buf& b) { return b ? b->data<T>() : nullptr; }

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

Buf optional_float(const char* op, const char* name, const py::object& obj, DType dt, const Shape& shape,
                   const char* formula, int device) {
  Buf b = opt_buf(obj);
  if (!b) return b;
  check_float(op, name, b, dt);
  check_shape(op, name, b, shape, formula);
  check_device(op, name, b, device);
  return b;
}

// Upstream gradients of a recurrent backward: dtype, shape and device of each given one.
void check_upstream(const char* op, DType dt, int device,
                    std::initializer_list<std::tuple<const char*, Buf, Shape, const char*>> ups) {
  for (const auto& [name, b, shape, formula] : ups) {
    if (!b) continue;
    if (float_dtype(op, name, b) != dt)
      type_error(op, std::string(name) + " must have the forward inputs' dtype " + dtype_name(dt) +
                         ", got dtype " + typestr_name(b->typestr));
    check_shape(op, name, b, shape, formula);
    check_device(op, name, b, device);
  }
  cuda::set_device(op, device);
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

template <typename T> const T* p_(const Buf& b) { return ptr_or_null<T>(b); }
const std::uint8_t* mask_p(const Buf& b) { return ptr_or_null<std::uint8_t>(b); }

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
  Buf dx = empty(op, {B, T_, I}, ts, dev), dW = empty(op, {I, 4 * H}, ts, dev),
      dU = empty(op, {H, 4 * H}, ts, dev), db = empty(op, {4 * H}, ts, dev),
      dh0 = empty(op, {B, H}, ts, dev), dc0 = empty(op, {B, H}, ts, dev), dz = empty(op, {B, T_, 4 * H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    cuda::lstm_backward<T>({dx->data<T>(), dW->data<T>(), dU->data<T>(), db->data<T>(), dh0->data<T>(),
                            dc0->data<T>(), dz->data<T>(), p_<T>(dy), p_<T>(dh), p_<T>(dc), s.gates->data<T>(),
                            r.h_in->data<T>(), s.c_in->data<T>(), r.first_valid->data<std::int32_t>(),
                            in.x->data<T>(), in.kernel->data<T>(), in.recurrent->data<T>(), mask_p(in.mask),
                            p_<T>(in.drop), B, T_, I, H, r.reverse, r.zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(dx, dW, dU, db, dh0, dc0);
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
  Buf dx = empty(op, {B, T_, I}, ts, dev), dW = empty(op, {I, 3 * H}, ts, dev),
      dU = empty(op, {H, 3 * H}, ts, dev), db = empty(op, {2, 3 * H}, ts, dev), dh0 = empty(op, {B, H}, ts, dev),
      dgx = empty(op, {B, T_, 3 * H}, ts, dev), da = empty(op, {B, T_, 3 * H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    cuda::gru_backward<T>({dx->data<T>(), dW->data<T>(), dU->data<T>(), db->data<T>(), dh0->data<T>(),
                           dgx->data<T>(), da->data<T>(), p_<T>(dy), p_<T>(dh), s.gates->data<T>(),
                           s.hn->data<T>(), s.h_prev->data<T>(), r.h_in->data<T>(),
                           r.first_valid->data<std::int32_t>(), in.x->data<T>(), in.kernel->data<T>(),
                           in.recurrent->data<T>(), mask_p(in.mask), p_<T>(in.drop), B, T_, I, H, r.reverse,
                           r.zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(dx, dW, dU, db, dh0);
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
  Buf dx = empty(op, {B, T_, I}, ts, dev), dW = empty(op, {I, H}, ts, dev), dU = empty(op, {H, H}, ts, dev),
      db = empty(op, {H}, ts, dev), dh0 = empty(op, {B, H}, ts, dev), dz = empty(op, {B, T_, H}, ts, dev);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    cuda::rnn_backward<T>({dx->data<T>(), dW->data<T>(), dU->data<T>(), db->data<T>(), dh0->data<T>(),
                           dz->data<T>(), p_<T>(dy), p_<T>(dh), s.act->data<T>(), r.h_in->data<T>(),
                           r.first_valid->data<std::int32_t>(), in.x->data<T>(), in.kernel->data<T>(),
                           in.recurrent->data<T>(), mask_p(in.mask), p_<T>(in.drop), s.activation, B, T_, I, H,
                           r.reverse, r.zero_output_for_mask});
  };
  if (in.dt == DType::f32) run(float{}); else run(double{});
  return py::make_tuple(dx, dW, dU, db, dh0);
}

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

}  // namespace pyseq::cudabind

PYBIND11_MODULE(_cuda, m) {
  using namespace pyseq::cudabind;
  namespace cuda = pyseq::cuda;
  m.doc() = "pyseq's CUDA kernels (PYSEQ_CUDA=ON). Reached through pyseq.ops with GPU arrays.";
  m.def("device_count", &cuda::device_count);
  m.def("description", &cuda::description);

  py::class_<DeviceBuffer, Buf>(m, "DeviceBuffer",
                                "GPU memory of one dtype and C-contiguous shape, pyseq's or a view of a caller's array.")
      .def_property_readonly("__cuda_array_interface__", &cuda_array_interface)
      .def_property_readonly("shape", [](const DeviceBuffer& b) { return py::tuple(py::cast(b.shape)); })
      .def_property_readonly("typestr", [](const DeviceBuffer& b) { return b.typestr; })
      .def_property_readonly("device", [](const DeviceBuffer& b) { return b.device; })
      .def_property_readonly("nbytes", &DeviceBuffer::nbytes)
      .def("copy_to_host", [](const DeviceBuffer& b, py::buffer out) {
        // for tests without an array library: bytes into a writable host buffer of nbytes
        py::buffer_info info = out.request(true);
        if (std::size_t(info.size * info.itemsize) != b.nbytes())
          value_error("copy_to_host", "out must hold " + std::to_string(b.nbytes()) + " bytes");
        pyseq::cuda::copy_to_host("copy_to_host", info.ptr, b.ptr, b.nbytes());
      }, py::arg("out"))
      .def("__repr__", [](const DeviceBuffer& b) {
        return "<pyseq DeviceBuffer " + shape_str(b.shape) + " " + typestr_name(b.typestr) + " on GPU " +
               std::to_string(b.device) + (b.owned ? "" : " (view)") + ">";
      });
  m.def("from_interface", &from_interface, py::arg("op"), py::arg("ptr"), py::arg("shape"),
        py::arg("strides"), py::arg("typestr"), py::arg("owner"), py::arg("stream"),
        "A caller's GPU array as a contiguous DeviceBuffer (a view, or a copy when strided).");

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
