// Option checks shared by the sliding-window families (conv1d, 1-D pooling): integer sizes and
// the padding name. Messages follow checks.h: "[op] name must be ..., got ...".
#pragma once

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <string>

#include "checks.h"

namespace pyseq::bind {

// A Python int (or NumPy integer), not a bool, at least 1.
inline std::int64_t int_option(const char* op, const char* name, const py::handle& obj) {
  const bool is_int = py::isinstance<py::int_>(obj) ||
                      py::isinstance(obj, py::module_::import("numpy").attr("integer"));
  if (!is_int || py::isinstance<py::bool_>(obj) ||
      py::isinstance(obj, py::module_::import("numpy").attr("bool_")))
    type_error(op, std::string(name) + " must be an int, got " +
                       py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  const py::int_ v = py::reinterpret_borrow<py::object>(obj).attr("__index__")();
  const long long n = v.cast<long long>();
  if (n < 1) value_error(op, std::string(name) + " must be at least 1, got " + std::to_string(n));
  if (n > INT_MAX) value_error(op, std::string(name) + " must be at most " + std::to_string(INT_MAX) + ", got " + std::to_string(n));
  return n;
}

// "valid", "same" or (with allow_causal) "causal", in any case as Keras accepts; the lowercase name.
inline std::string padding_option(const char* op, const py::handle& obj, bool allow_causal) {
  const char* allowed = allow_causal ? "'valid', 'same' or 'causal'" : "'valid' or 'same'";
  if (!py::isinstance<py::str>(obj))
    type_error(op, std::string("padding must be a str, ") + allowed + ", got " +
                       py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  std::string p = obj.cast<std::string>();
  std::string lower = p;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "valid" || lower == "same" || (allow_causal && lower == "causal")) return lower;
  value_error(op, std::string("padding must be ") + allowed + ", got '" + p + "'");
}

}  // namespace pyseq::bind
