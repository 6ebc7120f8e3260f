// pybind11 module pyseq._cuda (PYSEQ_CUDA=ON only): device buffers and the CUDA ops' front-end.
// pyseq/_device.py turns GPU arrays (__cuda_array_interface__) into DeviceBuffer views (or
// contiguous copies) and calls these functions; validation of shapes and dtypes happens here,
// with the CPU bindings' messages, then the kernels of csrc/cuda/ run on the legacy default
// stream. Results are DeviceBuffers that own pyseq's allocations and expose
// __cuda_array_interface__, which _device.py hands back to the caller's array library.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <memory>
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

// ---- LSTM ---------------------------------------------------------------------------------------
constexpr const char* kLstmF = "lstm_forward";
constexpr const char* kLstmB = "lstm_backward";

struct LstmSaved {
  DType dtype;
  std::int64_t B, T_, I, H;
  bool reverse, zero_output_for_mask;
  Buf x, kernel, recurrent_kernel, mask, dropout_mask, gates, h_in, c_in, first_valid;
};

template <typename T>
void run_lstm_forward(LstmSaved& s, const Buf& y, const Buf& h, const Buf& c, const Buf& bias,
                      const Buf& h0, const Buf& c0) {
  cuda::LstmForward<T> a{y->data<T>(), h->data<T>(), c->data<T>(), s.gates->data<T>(),
                         s.h_in->data<T>(), s.c_in->data<T>(), s.first_valid->data<std::int32_t>(),
                         s.x->data<T>(), s.kernel->data<T>(), s.recurrent_kernel->data<T>(),
                         ptr_or_null<T>(bias), ptr_or_null<T>(h0), ptr_or_null<T>(c0),
                         ptr_or_null<std::uint8_t>(s.mask), ptr_or_null<T>(s.dropout_mask),
                         s.B, s.T_, s.I, s.H, s.reverse, s.zero_output_for_mask};
  cuda::lstm_forward<T>(a);
}

py::tuple lstm_forward(const Buf& x, const Buf& kernel, const Buf& recurrent, const py::object& bias_obj,
                       const py::object& h0_obj, const py::object& c0_obj, const py::object& mask_obj,
                       bool reverse, bool zero_output_for_mask, const py::object& dropout_obj) {
  const char* op = kLstmF;
  const DType dt = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, I)");
  const std::int64_t B = x->shape[0], T_ = x->shape[1], I = x->shape[2];
  check_extent(op, "batch size B (x.shape[0])", B);
  check_extent(op, "steps T (x.shape[1])", T_);
  check_extent(op, "input features I (x.shape[2])", I);
  check_float(op, "recurrent_kernel", recurrent, dt);
  check_ndim(op, "recurrent_kernel", recurrent, 2, "(H, 4H)");
  const std::int64_t H = recurrent->shape[0];
  check_extent(op, "hidden units H (recurrent_kernel.shape[0])", H);
  check_extent(op, "B*T", B * T_);
  check_extent(op, "4H", 4 * H);
  check_shape(op, "recurrent_kernel", recurrent, {H, 4 * H}, "(H, 4H)");
  check_float(op, "kernel", kernel, dt);
  check_shape(op, "kernel", kernel, {I, 4 * H}, "(I, 4H)");
  Buf bias = opt_buf(bias_obj), h0 = opt_buf(h0_obj), c0 = opt_buf(c0_obj),
      mask = opt_buf(mask_obj), drop = opt_buf(dropout_obj);
  if (bias) { check_float(op, "bias", bias, dt); check_shape(op, "bias", bias, {4 * H}, "(4H,)"); }
  if (h0) { check_float(op, "h0", h0, dt); check_shape(op, "h0", h0, {B, H}, "(B, H)"); }
  if (c0) { check_float(op, "c0", c0, dt); check_shape(op, "c0", c0, {B, H}, "(B, H)"); }
  if (mask) check_bool(op, "mask", mask, {B, T_}, "(B, T)");
  if (drop) {
    check_float(op, "recurrent_dropout_mask", drop, dt);
    check_shape(op, "recurrent_dropout_mask", drop, {B, H}, "(B, H)");
  }
  for (auto [name, b] : {std::pair<const char*, Buf>{"kernel", kernel}, {"recurrent_kernel", recurrent},
                         {"bias", bias}, {"h0", h0}, {"c0", c0}, {"mask", mask}, {"recurrent_dropout_mask", drop}})
    if (b) check_device(op, name, b, x->device);
  const int dev = x->device;
  cuda::set_device(op, dev);
  const std::string& ts = x->typestr;
  auto saved = std::make_unique<LstmSaved>(LstmSaved{
      dt, B, T_, I, H, reverse, zero_output_for_mask, x, kernel, recurrent, mask, drop,
      empty(op, {B, T_, 4 * H}, ts, dev), empty(op, {B, T_, H}, ts, dev), empty(op, {B, T_, H}, ts, dev),
      empty(op, {B}, "<i4", dev)});
  Buf y = empty(op, {B, T_, H}, ts, dev), h = empty(op, {B, H}, ts, dev), c = empty(op, {B, H}, ts, dev);
  if (dt == DType::f32) run_lstm_forward<float>(*saved, y, h, c, bias, h0, c0);
  else run_lstm_forward<double>(*saved, y, h, c, bias, h0, c0);
  return py::make_tuple(y, h, c, py::cast(std::move(saved)));
}

template <typename T>
void run_lstm_backward(const LstmSaved& s, const Buf& dy, const Buf& dh, const Buf& dc, const Buf& dx,
                       const Buf& dW, const Buf& dU, const Buf& db, const Buf& dh0, const Buf& dc0,
                       const Buf& dz) {
  cuda::LstmBackward<T> a{dx->data<T>(), dW->data<T>(), dU->data<T>(), db->data<T>(), dh0->data<T>(),
                          dc0->data<T>(), dz->data<T>(), ptr_or_null<T>(dy), ptr_or_null<T>(dh),
                          ptr_or_null<T>(dc), s.gates->data<T>(), s.h_in->data<T>(), s.c_in->data<T>(),
                          s.first_valid->data<std::int32_t>(), s.x->data<T>(), s.kernel->data<T>(),
                          s.recurrent_kernel->data<T>(), ptr_or_null<std::uint8_t>(s.mask),
                          ptr_or_null<T>(s.dropout_mask), s.B, s.T_, s.I, s.H, s.reverse,
                          s.zero_output_for_mask};
  cuda::lstm_backward<T>(a);
}

py::tuple lstm_backward(const py::object& dy_obj, const py::object& dh_obj, const py::object& dc_obj,
                        const LstmSaved& s) {
  const char* op = kLstmB;
  const int dev = s.x->device;
  const std::string& ts = s.x->typestr;
  Buf dy = opt_buf(dy_obj), dh = opt_buf(dh_obj), dc = opt_buf(dc_obj);
  for (auto [name, b, shape, formula] :
       {std::tuple<const char*, Buf, Shape, const char*>{"dy", dy, {s.B, s.T_, s.H}, "(B, T, H)"},
        {"dh_T", dh, {s.B, s.H}, "(B, H)"}, {"dc_T", dc, {s.B, s.H}, "(B, H)"}}) {
    if (!b) continue;
    if (float_dtype(op, name, b) != s.dtype)
      type_error(op, std::string(name) + " must have the forward inputs' dtype " + dtype_name(s.dtype) +
                         ", got dtype " + typestr_name(b->typestr));
    check_shape(op, name, b, shape, formula);
    check_device(op, name, b, dev);
  }
  cuda::set_device(op, dev);
  Buf dx = empty(op, {s.B, s.T_, s.I}, ts, dev), dW = empty(op, {s.I, 4 * s.H}, ts, dev),
      dU = empty(op, {s.H, 4 * s.H}, ts, dev), db = empty(op, {4 * s.H}, ts, dev),
      dh0 = empty(op, {s.B, s.H}, ts, dev), dc0 = empty(op, {s.B, s.H}, ts, dev),
      dz = empty(op, {s.B, s.T_, 4 * s.H}, ts, dev);
  if (s.dtype == DType::f32) run_lstm_backward<float>(s, dy, dh, dc, dx, dW, dU, db, dh0, dc0, dz);
  else run_lstm_backward<double>(s, dy, dh, dc, dx, dW, dU, db, dh0, dc0, dz);
  return py::make_tuple(dx, dW, dU, db, dh0, dc0);
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
}
