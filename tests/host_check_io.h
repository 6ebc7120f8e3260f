// The file protocol of the host programs that tests/test_cuda_compile.py runs (host_check_runner):
// IN holds 16 int64 sizes, then float64 arrays back to back; OUT receives the float64 results.
// Exit codes: 2 usage, 3 IN unreadable, 4 short header, 5 arrays left over, 6 OUT unwritable.
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

namespace host_check {

using Vec = std::vector<double>;

struct Input {
  std::int64_t p[16];
  Vec data;
  std::size_t at = 0;

  // The next n values of the arrays.
  Vec take(std::int64_t n) {
    Vec o(data.begin() + at, data.begin() + at + n);
    at += n;
    return o;
  }
  // The next n values, a 0/1 mask, as bytes.
  std::vector<std::uint8_t> take_mask(std::int64_t n) {
    std::vector<std::uint8_t> m;
    for (double v : take(n)) m.push_back(v != 0.0);
    return m;
  }
  bool all_taken() const { return at == data.size(); }
};

// Reads IN (argv[1]) into *in: 0, or the exit code.
inline int read_input(int argc, char** argv, Input* in) {
  if (argc != 3) return 2;
  std::FILE* f = std::fopen(argv[1], "rb");
  if (!f) return 3;
  if (std::fread(in->p, sizeof in->p, 1, f) != 1) {
    std::fclose(f);
    return 4;
  }
  double v;
  while (std::fread(&v, sizeof v, 1, f) == 1) in->data.push_back(v);
  std::fclose(f);
  return 0;
}

// Writes out to OUT (argv[2]): 0, or the exit code.
inline int write_output(char** argv, const Vec& out) {
  std::FILE* f = std::fopen(argv[2], "wb");
  if (!f || std::fwrite(out.data(), sizeof(double), out.size(), f) != out.size()) return 6;
  std::fclose(f);
  return 0;
}

}  // namespace host_check
