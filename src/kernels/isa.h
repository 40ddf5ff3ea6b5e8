// Which instruction set the kernels run on, chosen at run time.
//
// One binary carries a scalar, an AVX2 + FMA and an AVX-512 path
// (kernels/ops.h). The first kernel call picks the widest one the CPU
// supports (CPUID, through __builtin_cpu_supports), unless the environment
// variable CASCADE_ISA names one: scalar, avx2, avx512 (or auto). A named
// path the CPU lacks, or an unknown name, is an Error saying which paths
// this CPU has.
#pragma once

#include <string>
#include <vector>

namespace cascade {

enum class Isa { kScalar, kAvx2, kAvx512 };

// "scalar", "avx2", "avx512".
const char* isa_name(Isa isa);

// Whether this CPU (and OS) can run the path.
bool isa_supported(Isa isa);

// Every path this CPU can run, widest first.
std::vector<Isa> supported_isas();

// The path the kernels use now (decided on first use; see above).
Isa active_isa();

// How the active path was chosen: "CASCADE_ISA=avx2", or "CPUID" when the
// widest supported one was picked.
std::string isa_reason();

// Switches the kernels to `isa` (tests and benchmarks compare paths). Call
// between kernel calls, not during one. Throws Error if unsupported.
void set_isa(Isa isa);

}  // namespace cascade
