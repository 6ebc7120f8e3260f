// pyseq._cuda's DeviceBuffer: GPU memory of one dtype and C-contiguous shape, pyseq's own or a
// view of a caller's array, exposing __cuda_array_interface__ so that the caller's library can
// take it back without a copy.
#include "cuda_buffer.h"

#include "../cuda/cuda.h"

namespace pyseq::cudabind {

namespace {

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

}  // namespace

void register_cuda_buffer(py::module_& m) {
  namespace cuda = pyseq::cuda;
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
}

}  // namespace pyseq::cudabind
