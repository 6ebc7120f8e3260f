#include "rnn_common.h"

#include <cstring>
#include <string>

#include "lstm.h"

namespace pyseq::cpu {

namespace {
enum class SplitMode { automatic, batch, units };
SplitMode g_split_mode = SplitMode::automatic;
bool g_packed_step = true;
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
