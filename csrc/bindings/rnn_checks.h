// Argument checks the recurrent bindings (simple_rnn.cpp, gru.cpp, lstm.cpp) share: the x /
// kernel / recurrent_kernel triple, the (B, T) bool mask, the saved object and the upstream
// gradients.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "checks.h"

namespace pyseq::bind {

// x (B, T, I), kernel (I, gates*H), recurrent_kernel (H, gates*H), validated and with their sizes.
struct RecurrentInputs {
  DType dt;
  py::array x, kernel, recurrent_kernel;
  std::int64_t B, T, I, H;
};

// The checks every recurrent forward starts with; `kernel_dims` / `rk_dims` name the expected
// shapes, e.g. "(I, 4H)" / "(H, 4H)". Family-specific extents are checked by the caller, before
// check_recurrent_shapes.
inline RecurrentInputs check_recurrent_inputs(const char* op, const py::object& x_obj,
                                              const py::object& kernel_obj,
                                              const py::object& rk_obj, const char* kernel_dims,
                                              const char* rk_dims) {
  py::array x = to_array(op, "x", x_obj);
  const DType dt = float_dtype(op, "x", x);
  check_ndim(op, "x", x, 3, "(B, T, I)");
  py::array kernel = float_like(op, "kernel", kernel_obj, dt);
  check_ndim(op, "kernel", kernel, 2, kernel_dims);
  py::array rk = float_like(op, "recurrent_kernel", rk_obj, dt);
  check_ndim(op, "recurrent_kernel", rk, 2, rk_dims);

  const std::int64_t B = x.shape(0), T = x.shape(1), I = x.shape(2), H = rk.shape(0);
  check_extent(op, "batch size B (x.shape[0])", B);
  check_extent(op, "steps T (x.shape[1])", T);
  check_extent(op, "input features I (x.shape[2])", I);
  check_extent(op, "hidden units H (recurrent_kernel.shape[0])", H);
  check_extent(op, "B*T", B * T);
  return RecurrentInputs{dt, x, kernel, rk, B, T, I, H};
}

// The weights' exact shapes, once the sizes are known to be sane.
inline void check_recurrent_shapes(const char* op, const RecurrentInputs& in, std::int64_t gates,
                                   const char* kernel_dims, const char* rk_dims) {
  check_shape(op, "recurrent_kernel", in.recurrent_kernel, {in.H, gates * in.H}, rk_dims);
  check_shape(op, "kernel", in.kernel, {in.I, gates * in.H}, kernel_dims);
}

// The optional mask: None, or a (B, T) bool array (True = valid step), made contiguous.
inline py::object check_step_mask(const char* op, const py::object& mask_obj, std::int64_t B,
                                  std::int64_t T) {
  if (mask_obj.is_none()) return py::none();
  py::array m = to_array(op, "mask", mask_obj);
  if (!m.dtype().equal(py::dtype::of<bool>()))
    type_error(op, "mask must be a bool array (True = valid step), got dtype " + dtype_str(m));
  check_shape(op, "mask", m, {B, T}, "(B, T)");
  return contiguous<bool>(m);
}

// saved as the family's opaque Saved class, else TypeError naming the forward it must come from.
template <typename Saved>
const Saved& check_saved(const char* op, const char* forward_name, const py::object& saved_obj) {
  if (!py::isinstance<Saved>(saved_obj))
    type_error(op, std::string("saved must be the object returned by ") + forward_name + ", got " +
                       py::str(py::type::of(saved_obj).attr("__name__")).cast<std::string>());
  return saved_obj.cast<const Saved&>();
}

// An upstream gradient: None, or an array of the forward's dtype and the given shape, contiguous.
inline py::object upstream_grad(const char* op, DType dt, const char* name, const py::object& obj,
                                const std::vector<std::int64_t>& shape, const char* formula) {
  if (dt == DType::f32) return optional_float<float>(op, name, obj, shape, formula, dt);
  return optional_float<double>(op, name, obj, shape, formula, dt);
}

// The sequence input of a recurrent forward: x (B, T, I), or token inputs x[b, t] =
// table[ids[b, t]] (an Embedding's rows, never formed; cpu/token_inputs.h).
struct SequenceInput {
  py::object x, ids, table;  // x, or ids (int64, C-contiguous) and table
  std::int64_t V = 0;

  bool tokens() const { return !ids.is_none(); }
  const std::int64_t* ids_ptr() const {
    return tokens() ? static_cast<const std::int64_t*>(ids.cast<py::array>().data()) : nullptr;
  }
  // x and table as C-contiguous arrays of T (the kernels read them in place).
  template <typename T>
  SequenceInput contiguous_as() const {
    return SequenceInput{x.is_none() ? x : py::object(contiguous<T>(x)), ids,
                         table.is_none() ? table : py::object(contiguous<T>(table)), V};
  }
};

// The checks of a <family>_forward_tokens: ids (B, T) integers in [0, V), table (V, I) deciding
// the dtype, and the weights as check_recurrent_inputs (whose x slot holds the table).
inline std::pair<RecurrentInputs, SequenceInput> check_token_inputs(
    const char* op, const py::object& ids_obj, const py::object& table_obj,
    const py::object& kernel_obj, const py::object& rk_obj, const char* kernel_dims,
    const char* rk_dims) {
  py::array table = to_array(op, "table", table_obj);
  const DType dt = float_dtype(op, "table", table);
  check_ndim(op, "table", table, 2, "(V, I)");
  py::array kernel = float_like(op, "kernel", kernel_obj, dt);
  check_ndim(op, "kernel", kernel, 2, kernel_dims);
  py::array rk = float_like(op, "recurrent_kernel", rk_obj, dt);
  check_ndim(op, "recurrent_kernel", rk, 2, rk_dims);
  const std::int64_t V = table.shape(0), I = table.shape(1), H = rk.shape(0);
  check_extent(op, "table rows V (table.shape[0])", V);
  check_extent(op, "input features I (table.shape[1])", I);
  check_extent(op, "hidden units H (recurrent_kernel.shape[0])", H);
  py::array ids = check_indices(op, "ids", ids_obj, V);
  check_ndim(op, "ids", ids, 2, "(B, T)");
  const std::int64_t B = ids.shape(0), T = ids.shape(1);
  check_extent(op, "batch size B (ids.shape[0])", B);
  check_extent(op, "steps T (ids.shape[1])", T);
  check_extent(op, "B*T", B * T);
  return {RecurrentInputs{dt, table, kernel, rk, B, T, I, H},
          SequenceInput{py::none(), contiguous<std::int64_t>(ids), table, V}};
}

// The gradient reaching the forward's sequence input: dx (B, T, I), or d_table (V, I) for tokens.
template <typename T>
py::array_t<T> input_grad(const SequenceInput& seq, std::int64_t B, std::int64_t T_,
                          std::int64_t I) {
  return seq.tokens() ? py::array_t<T>({seq.V, I}) : py::array_t<T>({B, T_, I});
}

}  // namespace pyseq::bind
