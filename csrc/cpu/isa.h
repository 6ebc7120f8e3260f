// Runtime choice of instruction set. Each kernel file is compiled once per ISA level into its own
// namespace (pyseq::cpu::baseline, ::avx2, ::avx512, chosen by PYSEQ_ISA at compile time); the
// dispatcher picks the widest level this CPU supports, so one build runs on any x86-64.
#pragma once

#include <string>
#include <vector>

// Code defined in headers (inline functions, templates) and included by the per-ISA kernel files
// must not be shared between ISA builds: the linker keeps one copy of each such symbol, and an
// AVX-512 copy reached from the baseline path would crash older CPUs. Headers wrap that code in
// PYSEQ_ISA_BEGIN / PYSEQ_ISA_END, which give each build its own inline namespace.
#define PYSEQ_CAT_(a, b) a##b
#define PYSEQ_CAT(a, b) PYSEQ_CAT_(a, b)
#if defined(PYSEQ_ISA)
#define PYSEQ_ISA_BEGIN inline namespace PYSEQ_CAT(isa_, PYSEQ_ISA) {
#else
#define PYSEQ_ISA_BEGIN inline namespace isa_generic {
#endif
#define PYSEQ_ISA_END }

namespace pyseq::cpu {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };

Isa active_isa();
bool set_active_isa(const std::string& name);  // false if unknown, not compiled or unsupported
std::string isa_name(Isa isa);
std::vector<std::string> available_isas();     // compiled in and supported by this CPU

}  // namespace pyseq::cpu
