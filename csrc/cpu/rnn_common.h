// Machinery shared by the recurrent kernels (LSTM, GRU, SimpleRNN): how hidden units are chunked
// across threads, packing of gate columns into that chunked order, the per-row first valid step
// for Keras mask semantics, scratch buffers, and the time loop that runs one thread team over the
// whole sequence.
// Legend: B batch, T steps, H hidden units, G gates per unit (LSTM 4, GRU 3, SimpleRNN 1).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "threads.h"

namespace pyseq::cpu {

// Scratch memory, 64-byte aligned, uninitialised.
template <typename T>
class Buffer {
 public:
  explicit Buffer(std::int64_t n)
      : p_(static_cast<T*>(std::aligned_alloc(64, round_up(n * sizeof(T))))) {
    if (!p_) throw std::bad_alloc();
  }
  ~Buffer() { std::free(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* get() { return p_; }

 private:
  static std::size_t round_up(std::size_t b) { return std::max<std::size_t>(64, (b + 63) / 64 * 64); }
  T* p_;
};

// Hidden units split into contiguous chunks, sizes multiples of 8 where possible.
struct UnitChunks {
  std::int64_t H;
  int n;
  std::int64_t begin(int k) const {
    if (k >= n) return H;
    std::int64_t b = H * k / n;
    return n == 1 ? 0 : std::min(H, (b + 4) / 8 * 8);
  }
  std::int64_t end(int k) const { return begin(k + 1); }
  std::int64_t size(int k) const { return end(k) - begin(k); }
};

// Column c of a (rows, G*H) matrix in Keras gate-major order (gate g, unit j at g*H + j) goes to
// the chunked order (chunk k of units [u0,u1): 4*u0 + g*(u1-u0) + (j-u0), written with G for 4).
template <typename T>
void pack_gate_columns(T* dst, const T* src, std::int64_t rows, std::int64_t H, int G,
                       const UnitChunks& chunks) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * G * H;
    T* d = dst + r * G * H;
    for (int k = 0; k < chunks.n; ++k) {
      std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (int g = 0; g < G; ++g)
        std::copy(s + g * H + u0, s + g * H + u0 + hs, d + G * u0 + g * hs);
    }
  }
}

template <typename T>
void unpack_gate_columns(T* dst, const T* src, std::int64_t rows, std::int64_t H, int G,
                         const UnitChunks& chunks) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * G * H;
    T* d = dst + r * G * H;
    for (int k = 0; k < chunks.n; ++k) {
      std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
      for (int g = 0; g < G; ++g)
        std::copy(s + G * u0 + g * hs, s + G * u0 + (g + 1) * hs, d + g * H + u0);
    }
  }
}

// Processing index of each row's first valid step (T when the row is fully masked): outputs at
// masked steps repeat the previous output only once a valid step has produced one.
std::vector<std::int64_t> first_valid_steps(const std::uint8_t* mask, std::int64_t B,
                                            std::int64_t T, bool reverse);

// How the step loop is shared by the team.
struct Split {
  bool by_units;  // true: each thread owns unit chunks of every row; false: rows of all units
  int threads;
  UnitChunks chunks;
};

// Forward chooses the split; backward must keep forward's chunk layout (saved gates use it).
Split choose_split(std::int64_t B, std::int64_t H);
Split split_for_chunks(std::int64_t B, std::int64_t H, int unit_chunks);

// What one thread owns in the step loop: rows [b0, b1) and the units of chunks k = k0, k0 + dk, ...
struct Part {
  std::int64_t b0, b1;
  int k0, dk;
};

// Runs one thread team over the whole sequence. For each processing step s (time t, which is
// T-1-s when `reverse`, and steps go from the last to the first when `backward`), every thread
// calls phase_a(s, t, part) on what it owns, the team meets at a barrier (only when threads share
// rows), then phase_b(s, t, part). BLAS calls inside the phases run serially on their thread.
template <class PhaseA, class PhaseB>
void run_time_loop(const Split& split, std::int64_t B, std::int64_t T, bool reverse,
                   bool backward, PhaseA&& phase_a, PhaseB&& phase_b) {
  SerialBlas serial;
#if defined(_OPENMP)
#pragma omp parallel num_threads(split.threads)
#endif
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    Part part;
    if (split.by_units) {
      part = {0, B, tid, nth};
    } else {
      part = {B * tid / nth, B * (tid + 1) / nth, 0, 1};
    }
    const bool active = part.b1 > part.b0 && part.k0 < split.chunks.n;
    for (std::int64_t i = 0; i < T; ++i) {
      const std::int64_t s = backward ? T - 1 - i : i;
      const std::int64_t t = reverse ? T - 1 - s : s;
      if (active) phase_a(s, t, part);
      if (split.by_units) {
#if defined(_OPENMP)
#pragma omp barrier
#endif
      }
      if (active) phase_b(s, t, part);
    }
  }
}

}  // namespace pyseq::cpu
