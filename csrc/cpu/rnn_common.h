// Machinery shared by the recurrent kernels (LSTM, GRU, SimpleRNN): how hidden units are chunked
// across threads, packing of gate columns into that chunked order, the per-row first valid step
// for Keras mask semantics, scratch buffers, and the time loop that runs one thread team over the
// whole sequence.
// Legend: B batch, T steps, H hidden units, G gates per unit (LSTM 4, GRU 3, SimpleRNN 1).
#pragma once

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "blas.h"
#include "isa.h"
#include "threads.h"

namespace pyseq::cpu {

// Defined once, in rnn_common.cpp.

// Scratch blocks freed by a kernel stay with the calling thread for its next call: large blocks
// would otherwise go back to the OS and come back as fresh pages that fault on first touch,
// which costs a tenth of a small LSTM call. Bounded in count and bytes.
void* scratch_take(std::size_t bytes);         // 64-byte aligned, uninitialised
void scratch_give(void* p, std::size_t bytes);
// Processing index of each row's first valid step (T when the row is fully masked): outputs at
// masked steps repeat the previous output only once a valid step has produced one.
std::vector<std::int64_t> first_valid_steps(const std::uint8_t* mask, std::int64_t B,
                                            std::int64_t T, bool reverse);
// Forward's choice of unit chunks for the step loop (1 = split the batch rows instead); backward
// keeps forward's choice because the saved gates use its column layout.
int choose_unit_chunks(std::int64_t B, std::int64_t H);
// Whether the step loop multiplies by packed panels (packed_gemm.h) or calls the BLAS.
bool use_packed_step();

PYSEQ_ISA_BEGIN

// Scratch memory for one kernel call, 64-byte aligned, uninitialised (see scratch_take).
template <typename T>
class Buffer {
 public:
  explicit Buffer(std::int64_t n)
      : bytes_(std::max<std::size_t>(64, (n * sizeof(T) + 63) / 64 * 64)),
        p_(static_cast<T*>(scratch_take(bytes_))) {}
  ~Buffer() { scratch_give(p_, bytes_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* get() { return p_; }

 private:
  std::size_t bytes_;
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
// the chunked order (chunk k of units [u0,u1): G*u0 + g*(u1-u0) + (j-u0)). These move the
// columns of one chunk k for rows [r0, r1), so that each thread can pack or unpack its own share.
template <typename T>
void pack_chunk(T* dst, const T* src, std::int64_t r0, std::int64_t r1, std::int64_t H, int G,
                const UnitChunks& chunks, int k) {
  const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
  for (std::int64_t r = r0; r < r1; ++r)
    for (int g = 0; g < G; ++g)
      std::copy(src + r * G * H + g * H + u0, src + r * G * H + g * H + u0 + hs,
                dst + r * G * H + G * u0 + g * hs);
}

template <typename T>
void unpack_chunk(T* dst, const T* src, std::int64_t r0, std::int64_t r1, std::int64_t H, int G,
                  const UnitChunks& chunks, int k) {
  const std::int64_t u0 = chunks.begin(k), hs = chunks.size(k);
  for (std::int64_t r = r0; r < r1; ++r)
    for (int g = 0; g < G; ++g)
      std::copy(src + r * G * H + G * u0 + g * hs, src + r * G * H + G * u0 + (g + 1) * hs,
                dst + r * G * H + g * H + u0);
}

// Every chunk of rows [r0, r1).
template <typename T>
void pack_rows(T* dst, const T* src, std::int64_t r0, std::int64_t r1, std::int64_t H, int G,
               const UnitChunks& chunks) {
  for (int k = 0; k < chunks.n; ++k) pack_chunk(dst, src, r0, r1, H, G, chunks, k);
}

// How the step loop is shared by the team.
struct Split {
  bool by_units;  // true: each thread owns unit chunks of every row; false: rows of all units
  UnitChunks chunks;
};

inline Split split_for_chunks(std::int64_t H, int unit_chunks) {
  return {unit_chunks > 1, UnitChunks{H, unit_chunks}};
}

// ---- one thread team per call ------------------------------------------------------------------

// A barrier for the step loop, where the team meets once per step: threads spin briefly (a step
// takes microseconds, far less than waking a sleeping thread), then yield in case the cores are
// oversubscribed.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    const int gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < (1 << 14)) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }
  void set_size(int n) { n_ = n; }

 private:
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  // Separate cache lines: waiters spin on generation_ while arrivals write arrived_.
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<int> generation_{0};
  int n_;
};

// One member of the team: its id, the team's size, and the team's barrier.
struct Team {
  int tid, nth;
  SpinBarrier* bar;
  void barrier() const {
    if (nth > 1) bar->wait();
  }
};

// Runs body(team) on a team of get_num_threads() threads (the caller alone without OpenMP).
template <class Body>
void run_team(Body&& body) {
  ensure_serial_blas();
  SpinBarrier bar(1);
#if defined(_OPENMP)
#pragma omp parallel num_threads(get_num_threads())
  {
#pragma omp single
    bar.set_size(omp_get_num_threads());  // the team may be smaller than asked (nesting)
    body(Team{omp_get_thread_num(), omp_get_num_threads(), &bar});
  }
#else
  body(Team{0, 1, &bar});
#endif
}

// Thread tid's share [first, second) of n items cut into nth nearly equal, `align`-rounded parts.
inline std::pair<std::int64_t, std::int64_t> team_share(std::int64_t n, int tid, int nth,
                                                        std::int64_t align = 1) {
  auto cut = [&](int k) {
    if (k >= nth) return n;
    std::int64_t c = n * k / nth;
    return std::min(n, (c + align / 2) / align * align);
  };
  return {cut(tid), cut(tid + 1)};
}

// This thread's block of C (M,N) = alpha op(A) op(B) + beta C (row-major), split along the
// longer of M and N; the BLAS runs single-threaded inside each block. Call from every member.
template <typename T>
void team_gemm(int tid, int nth, bool ta, bool tb, std::int64_t M, std::int64_t N,
               std::int64_t K, T alpha, const T* A, std::int64_t lda, const T* B,
               std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M >= N) {
    auto [m0, m1] = team_share(M, tid, nth, 4);
    if (m1 > m0)
      blas::gemm<T>(ta, tb, m1 - m0, N, K, alpha, ta ? A + m0 : A + m0 * lda, lda, B, ldb, beta,
                    C + m0 * ldc, ldc);
  } else {
    auto [n0, n1] = team_share(N, tid, nth, 16);
    if (n1 > n0)
      blas::gemm<T>(ta, tb, M, n1 - n0, K, alpha, A, lda, tb ? B + n0 * ldb : B + n0, ldb, beta,
                    C + n0, ldc);
  }
}

// c (N) = beta c + a (K) · B (K,N): the one-row product of the forward step loop. Columns go in
// blocks of NB held in registers across the whole k loop (B's rows stream through once), which
// beats the BLAS's gemv at the sizes of a thread's share of a recurrent kernel (bench/).
template <typename T, int NB>
inline void row_block(const T* __restrict a, const T* __restrict B, std::int64_t ldb,
                      T* __restrict c, std::int64_t K, bool accumulate) {
  T acc[NB];
  for (int j = 0; j < NB; ++j) acc[j] = accumulate ? c[j] : T(0);
  for (std::int64_t k = 0; k < K; ++k) {
    const T ak = a[k];
    const T* __restrict b = B + k * ldb;
#pragma omp simd
    for (int j = 0; j < NB; ++j) acc[j] += ak * b[j];
  }
  for (int j = 0; j < NB; ++j) c[j] = acc[j];
}

template <typename T>
void row_times_matrix(const T* a, const T* B, std::int64_t ldb, T* c, std::int64_t N,
                      std::int64_t K, T beta) {
  constexpr int NB = 128 / sizeof(T) * 4;  // 128 floats / 64 doubles: 8 zmm or 16 ymm registers
  const bool accumulate = beta != T(0);
  std::int64_t n = 0;
  for (; n + NB <= N; n += NB) row_block<T, NB>(a, B + n, ldb, c + n, K, accumulate);
  for (; n + 16 <= N; n += 16) row_block<T, 16>(a, B + n, ldb, c + n, K, accumulate);
  for (; n < N; ++n) {
    T acc = accumulate ? c[n] : T(0);
    for (std::int64_t k = 0; k < K; ++k) acc += a[k] * B[k * ldb + n];
    c[n] = acc;
  }
}

// C (M,N) = op(A) op(B) + beta C for the step loop when it does not use packed panels: with one
// row (batch 1, the common inference case) a matrix-vector product, else the BLAS.
template <typename T>
void step_gemm(bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A,
               std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  if (M == 1) {
    // C row = op(B)ᵀ·a: B (K,N) read as rows, or B (N,K) read as is (a gemv).
    if (tb) blas::gemv<T>(false, N, K, T(1), B, ldb, A, beta, C);
    else row_times_matrix<T>(A, B, ldb, C, N, K, beta);
  } else {
    blas::gemm<T>(false, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
  }
}

// What one thread owns in the step loop: rows [b0, b1) and the units of chunks k = k0, k0 + dk, ...
struct Part {
  std::int64_t b0, b1;
  int k0, dk;
};

// The most rows any thread multiplies per step: with one, the step products are matrix-vector
// products, for which packing panels does not pay (step_gemm's row kernel and gemv take them).
inline std::int64_t rows_per_part(const Split& split, std::int64_t B) {
  if (split.by_units) return B;
  const std::int64_t nth = std::max(1, get_num_threads());
  return (B + nth - 1) / nth;
}

inline Part step_part(const Split& split, std::int64_t B, int tid, int nth) {
  if (split.by_units) return {0, B, tid, nth};
  auto [b0, b1] = team_share(B, tid, nth);
  return {b0, b1, 0, 1};
}

// The time loop, run by every member of the team. For each processing step s (time t, which is
// T-1-s when `reverse`; steps go from the last to the first when `backward`), each thread calls
// phase_a(s, t, part) on what it owns, the team meets at a barrier (only when threads share rows),
// then phase_b(s, t, part).
template <class PhaseA, class PhaseB>
void time_loop(const Split& split, const Team& team, std::int64_t B, std::int64_t T,
               bool reverse, bool backward, PhaseA&& phase_a, PhaseB&& phase_b) {
  const Part part = step_part(split, B, team.tid, team.nth);
  const bool active = part.b1 > part.b0 && part.k0 < split.chunks.n;
  for (std::int64_t i = 0; i < T; ++i) {
    const std::int64_t s = backward ? T - 1 - i : i;
    const std::int64_t t = reverse ? T - 1 - s : s;
    if (active) phase_a(s, t, part);
    if (split.by_units) team.barrier();
    if (active) phase_b(s, t, part);
  }
}

// As time_loop, for steps with two dependent products (GRU without reset_after: the candidate's
// product needs every unit's reset gate): phase_a, barrier, phase_b, barrier, phase_c per step.
// The barriers are skipped when threads own rows (nothing is shared between them).
template <class PhaseA, class PhaseB, class PhaseC>
void time_loop(const Split& split, const Team& team, std::int64_t B, std::int64_t T,
               bool reverse, bool backward, PhaseA&& phase_a, PhaseB&& phase_b,
               PhaseC&& phase_c) {
  const Part part = step_part(split, B, team.tid, team.nth);
  const bool active = part.b1 > part.b0 && part.k0 < split.chunks.n;
  for (std::int64_t i = 0; i < T; ++i) {
    const std::int64_t s = backward ? T - 1 - i : i;
    const std::int64_t t = reverse ? T - 1 - s : s;
    if (active) phase_a(s, t, part);
    if (split.by_units) team.barrier();
    if (active) phase_b(s, t, part);
    if (split.by_units) team.barrier();
    if (active) phase_c(s, t, part);
  }
}

PYSEQ_ISA_END
}  // namespace pyseq::cpu
