#include "out_array.h"

#include <cstdlib>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyseq::bind {

namespace {
// Each block: [64-byte header holding its capacity | data...], data 2 MiB aligned + 64.
constexpr std::size_t kHuge = std::size_t(2) << 20;
constexpr std::size_t kHeader = 64;
constexpr std::size_t kKeepBlocks = 4;
constexpr std::size_t kKeepBytes = std::size_t(128) << 20;  // a training step's y and dx at the bench's largest conv

struct Kept {
  void* data;
  std::size_t capacity;
};
std::mutex g_mutex;
std::vector<Kept>& kept() {
  static auto* v = new std::vector<Kept>();  // never destroyed: arrays may die after exit starts
  return *v;
}
std::size_t g_kept_bytes = 0;

void release(void* data) { std::free(static_cast<char*>(data) - kHeader); }
}  // namespace

void* out_block_take(std::size_t bytes, std::size_t* capacity) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto& v = kept();
    // Smallest kept block that fits without wasting more than half of it.
    std::size_t best = v.size();
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i].capacity >= bytes && v[i].capacity <= 2 * bytes &&
          (best == v.size() || v[i].capacity < v[best].capacity))
        best = i;
    if (best < v.size()) {
      Kept k = v[best];
      v.erase(v.begin() + static_cast<std::ptrdiff_t>(best));
      g_kept_bytes -= k.capacity;
      *capacity = k.capacity;
      return k.data;
    }
  }
  const std::size_t cap = (bytes + kHuge - 1) / kHuge * kHuge;
  char* base = static_cast<char*>(std::aligned_alloc(kHuge, cap + kHuge));
  if (!base) throw std::bad_alloc();
  char* data = base + kHeader;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(base, cap + kHuge, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
#endif
  *reinterpret_cast<std::size_t*>(base) = cap;
  *capacity = cap;
  return data;
}

void out_block_give(void* p, std::size_t capacity) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& v = kept();
  if (capacity > kKeepBytes) {
    release(p);
    return;
  }
  v.push_back({p, capacity});
  g_kept_bytes += capacity;
  while (v.size() > kKeepBlocks || g_kept_bytes > kKeepBytes) {  // the oldest goes first
    release(v.front().data);
    g_kept_bytes -= v.front().capacity;
    v.erase(v.begin());
  }
}

}  // namespace pyseq::bind
