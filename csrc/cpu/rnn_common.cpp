#include "rnn_common.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "lstm.h"

namespace pyseq::cpu {

namespace {
enum class SplitMode { automatic, batch, units };
// Tuning switches, read by kernels that may run on several Python threads at once.
std::atomic<SplitMode> g_split_mode{SplitMode::automatic};
std::atomic<bool> g_packed_step{true};
}  // namespace

void set_step_product(const char* mode) { g_packed_step = std::string(mode) != "blas"; }
const char* get_step_product() { return g_packed_step ? "packed" : "blas"; }
bool use_packed_step() { return g_packed_step; }

void set_rnn_split(const char* mode) {
  std::string m(mode);
  g_split_mode = m == "batch" ? SplitMode::batch : m == "units" ? SplitMode::units
                                                                : SplitMode::automatic;
}

const char* get_rnn_split() {
  switch (g_split_mode) {
    case SplitMode::batch: return "batch";
    case SplitMode::units: return "units";
    default: return "auto";
  }
}

namespace {
struct ScratchBlock {
  void* p;
  std::size_t bytes;
};
constexpr std::size_t kScratchMaxBlocks = 16;
constexpr std::size_t kScratchMaxBytes = std::size_t(1) << 30;

struct ScratchCache {
  std::vector<ScratchBlock> blocks;
  std::size_t bytes = 0;
  ~ScratchCache() {
    for (auto& b : blocks) std::free(b.p);
  }
};
thread_local ScratchCache t_scratch;
}  // namespace

void* scratch_take(std::size_t bytes) {
  auto& c = t_scratch;
  // Best fit among blocks no more than twice the request.
  std::size_t best = c.blocks.size();
  for (std::size_t i = 0; i < c.blocks.size(); ++i)
    if (c.blocks[i].bytes >= bytes && c.blocks[i].bytes <= 2 * bytes &&
        (best == c.blocks.size() || c.blocks[i].bytes < c.blocks[best].bytes))
      best = i;
  if (best < c.blocks.size()) {
    void* p = c.blocks[best].p;
    c.bytes -= c.blocks[best].bytes;
    c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(best));
    return p;  // may be larger than asked: it comes back recorded at the size asked for
  }
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void scratch_give(void* p, std::size_t bytes) {
  auto& c = t_scratch;
  if (bytes > kScratchMaxBytes) {
    std::free(p);
    return;
  }
  c.blocks.push_back({p, bytes});
  c.bytes += bytes;
  while (c.blocks.size() > kScratchMaxBlocks || c.bytes > kScratchMaxBytes) {
    std::free(c.blocks.front().p);  // the oldest goes first
    c.bytes -= c.blocks.front().bytes;
    c.blocks.erase(c.blocks.begin());
  }
}

std::vector<std::int64_t> first_valid_steps(const std::uint8_t* mask, std::int64_t B,
                                            std::int64_t T, bool reverse) {
  std::vector<std::int64_t> first(B, mask ? T : 0);
  if (!mask) return first;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < T; ++s)
      if (mask[b * T + (reverse ? T - 1 - s : s)]) {
        first[b] = s;
        break;
      }
  return first;
}

int choose_unit_chunks(std::int64_t B, std::int64_t H) {
  const int nth = get_num_threads();
  // Rows are independent through the whole sequence, so splitting the batch needs no barrier;
  // splitting units pays a barrier per step but keeps each thread's share of the recurrent
  // weights in its own cache and keeps all threads busy at small batch.
  bool units;
  switch (g_split_mode) {
    case SplitMode::batch: units = false; break;
    case SplitMode::units: units = true; break;
    // Measured on 2 cores (bench/): with the packed step product rows win or tie from batch 16
    // up; units win at small batch, where rows would leave threads idle.
    default: units = B < 8 * nth && H >= 16 * nth; break;
  }
  if (nth == 1 || H < 8 * nth) units = false;
  return units ? nth : 1;
}

}  // namespace pyseq::cpu
