#include "kernels/isa.h"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "kernels/ops.h"
#include "util/error.h"

namespace cascade {

namespace {

std::atomic<const ops::KernelOps*> g_ops{nullptr};
std::atomic<Isa> g_isa{Isa::kScalar};
std::mutex g_mu;
std::string g_reason;

const ops::KernelOps& table(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return ops::avx512_ops();
    case Isa::kAvx2: return ops::avx2_ops();
    case Isa::kScalar: break;
  }
  return ops::scalar_ops();
}

std::string supported_list() {
  std::string s;
  for (Isa i : supported_isas()) s += (s.empty() ? "" : ", ") + std::string(isa_name(i));
  return s;
}

void select(Isa isa, const std::string& reason) {
  check(isa_supported(isa), std::string("kernel path ") + isa_name(isa) + " needs CPU features this machine lacks; it has: " +
                                supported_list());
  g_isa.store(isa);
  g_reason = reason;
  g_ops.store(&table(isa), std::memory_order_release);
}

// CASCADE_ISA, or the widest supported path.
void choose_once() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_ops.load(std::memory_order_acquire)) return;
  const char* env = std::getenv("CASCADE_ISA");
  const std::string want = env ? env : "";
  if (want.empty() || want == "auto") {
    select(supported_isas().front(), "CPUID");
    return;
  }
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar})
    if (want == isa_name(isa)) {
      check(isa_supported(isa), "CASCADE_ISA=" + want + " but this CPU lacks it; it has: " + supported_list() +
                                    " (unset CASCADE_ISA to pick the widest)");
      select(isa, "CASCADE_ISA=" + want);
      return;
    }
  throw Error("CASCADE_ISA=" + want + " is not a kernel path; use avx512, avx2, scalar or auto");
}

}  // namespace

namespace ops {

const KernelOps& active() {
  const KernelOps* t = g_ops.load(std::memory_order_acquire);
  if (t) return *t;
  choose_once();
  return *g_ops.load(std::memory_order_acquire);
}

}  // namespace ops

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kScalar: break;
  }
  return "scalar";
}

bool isa_supported(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the vector state.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  switch (isa) {
    case Isa::kAvx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    case Isa::kAvx2: return avx2;
    case Isa::kScalar: return true;
  }
#endif
  return isa == Isa::kScalar;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar})
    if (isa_supported(isa)) v.push_back(isa);
  return v;
}

Isa active_isa() {
  ops::active();
  return g_isa.load();
}

std::string isa_reason() {
  ops::active();
  std::lock_guard<std::mutex> lock(g_mu);
  return g_reason;
}

void set_isa(Isa isa) {
  ops::active();  // CASCADE_ISA is still validated once
  std::lock_guard<std::mutex> lock(g_mu);
  select(isa, std::string("set_isa(") + isa_name(isa) + ")");
}

}  // namespace cascade
