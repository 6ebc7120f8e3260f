// Picks the ISA build of each kernel at run time (see isa.h). PYSEQ_HAVE_AVX2 / PYSEQ_HAVE_AVX512
// say which builds CMake compiled in.
#include <atomic>

#include "activations.h"
#include "attention.h"
#include "isa.h"
#include "lstm.h"
#include "gru.h"
#include "simple_rnn.h"

namespace pyseq::cpu {

namespace {

bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return isa == Isa::baseline;
#endif
}

bool compiled(Isa isa) {
  switch (isa) {
#if defined(PYSEQ_HAVE_AVX512)
    case Isa::avx512: return true;
#endif
#if defined(PYSEQ_HAVE_AVX2)
    case Isa::avx2: return true;
#endif
    case Isa::baseline: return true;
    default: return false;
  }
}

Isa best_isa() {
  for (Isa isa : {Isa::avx512, Isa::avx2})
    if (compiled(isa) && cpu_supports(isa)) return isa;
  return Isa::baseline;
}

std::atomic<Isa>& current() {
  static std::atomic<Isa> isa{best_isa()};
  return isa;
}

}  // namespace

Isa active_isa() { return current(); }

std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "baseline";
  }
}

std::vector<std::string> available_isas() {
  std::vector<std::string> names;
  for (Isa isa : {Isa::baseline, Isa::avx2, Isa::avx512})
    if (compiled(isa) && cpu_supports(isa)) names.push_back(isa_name(isa));
  return names;
}

bool set_active_isa(const std::string& name) {
  for (Isa isa : {Isa::baseline, Isa::avx2, Isa::avx512})
    if (isa_name(isa) == name && compiled(isa) && cpu_supports(isa)) {
      current() = isa;
      return true;
    }
  return false;
}

#define COMMA ,
#define PYSEQ_DISPATCH(fn, args)                            \
  switch (active_isa()) {                                   \
    PYSEQ_CASE_AVX512(fn, args)                             \
    PYSEQ_CASE_AVX2(fn, args)                               \
    default: return baseline::fn(args);                     \
  }
#if defined(PYSEQ_HAVE_AVX512)
#define PYSEQ_CASE_AVX512(fn, args) case Isa::avx512: return avx512::fn(args);
#else
#define PYSEQ_CASE_AVX512(fn, args)
#endif
#if defined(PYSEQ_HAVE_AVX2)
#define PYSEQ_CASE_AVX2(fn, args) case Isa::avx2: return avx2::fn(args);
#else
#define PYSEQ_CASE_AVX2(fn, args)
#endif

template <typename T> void lstm_forward(const LstmForward<T>& a) { PYSEQ_DISPATCH(lstm_forward<T>, a) }
template <typename T> void lstm_backward(const LstmBackward<T>& a) { PYSEQ_DISPATCH(lstm_backward<T>, a) }

template <typename T>
void apply_activation(Activation which, const T* x, T* y, std::int64_t n) {
  switch (active_isa()) {
    PYSEQ_CASE_AVX512(apply_activation<T>, which COMMA x COMMA y COMMA n)
    PYSEQ_CASE_AVX2(apply_activation<T>, which COMMA x COMMA y COMMA n)
    default: return baseline::apply_activation<T>(which, x, y, n);
  }
}
template void apply_activation<float>(Activation, const float*, float*, std::int64_t);
template void apply_activation<double>(Activation, const double*, double*, std::int64_t);

template void lstm_forward<float>(const LstmForward<float>&);
template void lstm_forward<double>(const LstmForward<double>&);
template void lstm_backward<float>(const LstmBackward<float>&);
template void lstm_backward<double>(const LstmBackward<double>&);

// ---- GRU ----
template <typename T> void gru_forward(const GruForward<T>& a) { PYSEQ_DISPATCH(gru_forward<T>, a) }
template <typename T> void gru_backward(const GruBackward<T>& a) { PYSEQ_DISPATCH(gru_backward<T>, a) }
template void gru_forward<float>(const GruForward<float>&);
template void gru_forward<double>(const GruForward<double>&);
template void gru_backward<float>(const GruBackward<float>&);
template void gru_backward<double>(const GruBackward<double>&);
// ---- SimpleRNN ----------------------------------------------------------------------------------
template <typename T> void rnn_forward(const RnnForward<T>& a) { PYSEQ_DISPATCH(rnn_forward<T>, a) }
template <typename T> void rnn_backward(const RnnBackward<T>& a) { PYSEQ_DISPATCH(rnn_backward<T>, a) }
template void rnn_forward<float>(const RnnForward<float>&);
template void rnn_forward<double>(const RnnForward<double>&);
template void rnn_backward<float>(const RnnBackward<float>&);
template void rnn_backward<double>(const RnnBackward<double>&);
// ---- attention ----
template <typename T> void attention_forward(const AttentionForward<T>& a) { PYSEQ_DISPATCH(attention_forward<T>, a) }
template <typename T> void attention_backward(const AttentionBackward<T>& a) { PYSEQ_DISPATCH(attention_backward<T>, a) }
template void attention_forward<float>(const AttentionForward<float>&);
template void attention_forward<double>(const AttentionForward<double>&);
template void attention_backward<float>(const AttentionBackward<float>&);
template void attention_backward<double>(const AttentionBackward<double>&);

}  // namespace pyseq::cpu

// ---- conv1d and 1-D pooling (issue 4) ----------------------------------------------------------
#include "conv1d.h"
#include "pool1d.h"

namespace pyseq::cpu {

// PYSEQ_DISPATCH for functions of several arguments.
#if defined(PYSEQ_HAVE_AVX512)
#define PYSEQ_ARGS_CASE_AVX512(fn, ...) case Isa::avx512: return avx512::fn(__VA_ARGS__);
#else
#define PYSEQ_ARGS_CASE_AVX512(fn, ...)
#endif
#if defined(PYSEQ_HAVE_AVX2)
#define PYSEQ_ARGS_CASE_AVX2(fn, ...) case Isa::avx2: return avx2::fn(__VA_ARGS__);
#else
#define PYSEQ_ARGS_CASE_AVX2(fn, ...)
#endif
#define PYSEQ_DISPATCH_ARGS(fn, ...)              \
  switch (active_isa()) {                         \
    PYSEQ_ARGS_CASE_AVX512(fn, __VA_ARGS__)       \
    PYSEQ_ARGS_CASE_AVX2(fn, __VA_ARGS__)         \
    default: return baseline::fn(__VA_ARGS__);    \
  }

template <typename T> void conv1d_forward(const Conv1dForward<T>& a) { PYSEQ_DISPATCH_ARGS(conv1d_forward<T>, a) }
template <typename T> void conv1d_backward(const Conv1dBackward<T>& a) { PYSEQ_DISPATCH_ARGS(conv1d_backward<T>, a) }
template void conv1d_forward<float>(const Conv1dForward<float>&);
template void conv1d_forward<double>(const Conv1dForward<double>&);
template void conv1d_backward<float>(const Conv1dBackward<float>&);
template void conv1d_backward<double>(const Conv1dBackward<double>&);

template <typename T>
void max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const Pool1dShape& s) {
  PYSEQ_DISPATCH_ARGS(max_pool1d_forward<T>, y, argmax, x, s)
}
template <typename T>
void max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool1dShape& s) {
  PYSEQ_DISPATCH_ARGS(max_pool1d_backward<T>, dx, dy, argmax, s)
}
template <typename T>
void avg_pool1d_forward(T* y, const T* x, const Pool1dShape& s) {
  PYSEQ_DISPATCH_ARGS(avg_pool1d_forward<T>, y, x, s)
}
template <typename T>
void avg_pool1d_backward(T* dx, const T* dy, const Pool1dShape& s) {
  PYSEQ_DISPATCH_ARGS(avg_pool1d_backward<T>, dx, dy, s)
}
template <typename T>
void global_max_pool1d_forward(T* y, std::int32_t* argmax, const T* x, const std::uint8_t* mask,
                               std::int64_t B, std::int64_t T_, std::int64_t C) {
  PYSEQ_DISPATCH_ARGS(global_max_pool1d_forward<T>, y, argmax, x, mask, B, T_, C)
}
template <typename T>
void global_max_pool1d_backward(T* dx, const T* dy, const std::int32_t* argmax, std::int64_t B,
                                std::int64_t T_, std::int64_t C) {
  PYSEQ_DISPATCH_ARGS(global_max_pool1d_backward<T>, dx, dy, argmax, B, T_, C)
}
template <typename T>
void global_avg_pool1d_forward(T* y, const T* x, const std::uint8_t* mask, std::int64_t B,
                               std::int64_t T_, std::int64_t C) {
  PYSEQ_DISPATCH_ARGS(global_avg_pool1d_forward<T>, y, x, mask, B, T_, C)
}
template <typename T>
void global_avg_pool1d_backward(T* dx, const T* dy, const std::uint8_t* mask, std::int64_t B,
                                std::int64_t T_, std::int64_t C) {
  PYSEQ_DISPATCH_ARGS(global_avg_pool1d_backward<T>, dx, dy, mask, B, T_, C)
}

#define PYSEQ_INSTANTIATE_POOL1D_DISPATCH(T)                                                     \
  template void max_pool1d_forward<T>(T*, std::int32_t*, const T*, const Pool1dShape&);          \
  template void max_pool1d_backward<T>(T*, const T*, const std::int32_t*, const Pool1dShape&);   \
  template void avg_pool1d_forward<T>(T*, const T*, const Pool1dShape&);                         \
  template void avg_pool1d_backward<T>(T*, const T*, const Pool1dShape&);                        \
  template void global_max_pool1d_forward<T>(T*, std::int32_t*, const T*, const std::uint8_t*,   \
                                             std::int64_t, std::int64_t, std::int64_t);          \
  template void global_max_pool1d_backward<T>(T*, const T*, const std::int32_t*, std::int64_t,   \
                                              std::int64_t, std::int64_t);                       \
  template void global_avg_pool1d_forward<T>(T*, const T*, const std::uint8_t*, std::int64_t,    \
                                             std::int64_t, std::int64_t);                        \
  template void global_avg_pool1d_backward<T>(T*, const T*, const std::uint8_t*, std::int64_t,   \
                                              std::int64_t, std::int64_t);
PYSEQ_INSTANTIATE_POOL1D_DISPATCH(float)
PYSEQ_INSTANTIATE_POOL1D_DISPATCH(double)
#undef PYSEQ_INSTANTIATE_POOL1D_DISPATCH

}  // namespace pyseq::cpu
