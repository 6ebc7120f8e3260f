// Runtime choice of instruction set. Each kernel file is compiled once per ISA level into its own
// namespace (pyseq::cpu::baseline, ::avx2, ::avx512, chosen by PYSEQ_ISA at compile time); the
// dispatcher picks the widest level this CPU supports, so one build runs on any x86-64.
#pragma once

#include <string>
#include <vector>

namespace pyseq::cpu {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };

Isa active_isa();
bool set_active_isa(const std::string& name);  // false if unknown, not compiled or unsupported
std::string isa_name(Isa isa);
std::vector<std::string> available_isas();     // compiled in and supported by this CPU

}  // namespace pyseq::cpu
