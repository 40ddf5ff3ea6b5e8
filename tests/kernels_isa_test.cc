// Every kernel path this CPU supports (kernels/isa.h) against the scalar
// reference, on shapes that hit every tile remainder and vector tail.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {
namespace {

std::vector<float> randn(size_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The SIMD paths this machine has (scalar is the reference).
std::vector<Isa> simd_isas() {
  std::vector<Isa> v;
  for (Isa isa : supported_isas())
    if (isa != Isa::kScalar) v.push_back(isa);
  return v;
}

// Runs f under `isa`, then puts back the path that was active.
template <typename F>
auto under(Isa isa, F f) {
  const Isa before = active_isa();
  set_isa(isa);
  auto r = f();
  set_isa(before);
  return r;
}

TEST(KernelIsa, ScalarAlwaysSupportedAndWidestPickedFirst) {
  const auto all = supported_isas();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), Isa::kScalar);
  if (isa_supported(Isa::kAvx512)) {
    EXPECT_TRUE(isa_supported(Isa::kAvx2));
  }
  for (Isa isa : all) {
    set_isa(isa);
    EXPECT_EQ(active_isa(), isa);
    EXPECT_NE(isa_reason().find(isa_name(isa)), std::string::npos);
  }
  set_isa(all.front());
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2}) {
    if (!isa_supported(isa)) {
      EXPECT_THROW(set_isa(isa), Error);
    }
  }
}

// y = x · Wᵀ + b for n rows through the panel GEMM (n ≥ 2) or the GEMV (n = 1).
std::vector<float> run_matmul(Isa isa, const std::vector<float>& x, const std::vector<float>& W,
                              const std::vector<float>& panels, const std::vector<float>& b, int n, int in, int out) {
  return under(isa, [&] {
    std::vector<float> y((size_t)n * out);
    matmul(y.data(), x.data(), W.data(), b.data(), n, in, out, panels.data());
    return y;
  });
}

// Within 1e-6·Σ|x·w| of the double-precision sum, for every path: far below
// an fp32 sum's worst case (in·2⁻²⁴·Σ|x·w|), far above its typical error, and
// any wrong index or skipped input is off by O(1). AVX2 and AVX-512 must
// agree bit for bit (the same FMA chain per output).
TEST(KernelIsa, PanelGemmAndGemvMatchReferenceOnAwkwardShapes) {
  std::mt19937 rng(11);
  for (int in : {1, 7, 64, 255, 256, 257, 520, 769})
    for (int out : {kPanel, 3 * kPanel}) {
      auto W = randn((size_t)in * out, rng), b = randn(out, rng);
      std::vector<float> panels((size_t)in * out);
      pack_panels(panels.data(), W.data(), out, in);
      for (int n : {1, 2, 3, 5, 6, 7, 11, 12, 13, 17, 18, 19, 25, 30, 64}) {
        auto x = randn((size_t)n * in, rng);
        std::vector<std::vector<float>> got;
        for (Isa isa : supported_isas()) got.push_back(run_matmul(isa, x, W, panels, b, n, in, out));
        for (int i = 0; i < n; ++i)
          for (int r = 0; r < out; ++r) {
            double ref = b[r], mag = std::fabs(b[r]);
            for (int k = 0; k < in; ++k) {
              const double t = (double)W[(size_t)r * in + k] * x[(size_t)i * in + k];
              ref += t, mag += std::fabs(t);
            }
            for (size_t p = 0; p < got.size(); ++p)
              ASSERT_NEAR(got[p][(size_t)i * out + r], ref, 1e-6 * mag)
                  << isa_name(supported_isas()[p]) << " in=" << in << " out=" << out << " n=" << n << " row " << i;
          }
        const auto simd = simd_isas();
        if (simd.size() == 2) {
          const auto a = run_matmul(simd[0], x, W, panels, b, n, in, out);
          const auto c = run_matmul(simd[1], x, W, panels, b, n, in, out);
          ASSERT_EQ(a, c) << "in=" << in << " out=" << out << " n=" << n;
        }
        // A row's result does not depend on the rows beside it.
        if (n >= 2)
          for (Isa isa : supported_isas()) {
            const auto all = run_matmul(isa, x, W, panels, b, n, in, out);
            std::vector<float> two(x.end() - 2 * in, x.end());
            const auto y2 = run_matmul(isa, two, W, panels, b, 2, in, out);
            for (int r = 0; r < out; ++r) ASSERT_EQ(y2[out + r], all[(size_t)(n - 1) * out + r]) << isa_name(isa);
          }
      }
    }
}

// Without panels, a few rows (a batch of decode steps through the LM head)
// give each row exactly what the one-row GEMV gives it, under every path.
TEST(KernelIsa, FewRowsWithoutPanelsEqualTheGemvBitForBit) {
  std::mt19937 rng(13);
  const int in = 200, out = 77;
  auto W = randn((size_t)in * out, rng), b = randn(out, rng);
  for (Isa isa : supported_isas())
    for (int n = 2; n <= 8; ++n) {
      auto x = randn((size_t)n * in, rng);
      under(isa, [&] {
        std::vector<float> y((size_t)n * out), y1(out);
        matmul(y.data(), x.data(), W.data(), b.data(), n, in, out);
        for (int i = 0; i < n; ++i) {
          matmul(y1.data(), x.data() + (size_t)i * in, W.data(), b.data(), 1, in, out);
          for (int r = 0; r < out; ++r) EXPECT_EQ(y[(size_t)i * out + r], y1[r]) << isa_name(isa) << " n=" << n;
        }
        return 0;
      });
    }
}

// Element-wise |got − want| ≤ rel·|want| + abs.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, double abs,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      ASSERT_EQ(got[i], want[i]) << what << " [" << i << "]";
      continue;
    }
    ASSERT_NEAR(got[i], want[i], rel * std::fabs(want[i]) + abs) << what << " [" << i << "]";
  }
}

TEST(KernelIsa, SoftmaxMatchesScalar) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-100.0f, 10.0f);
  for (int n : {1, 3, 8, 15, 16, 17, 31, 100, 1000}) {
    std::vector<float> x(n);
    for (auto& v : x) v = u(rng);
    if (n > 2) x[1] = -std::numeric_limits<float>::infinity();  // a masked score
    auto run = [&](Isa isa) {
      return under(isa, [&] {
        auto y = x;
        softmax(y.data(), n);
        return y;
      });
    };
    const auto want = run(Isa::kScalar);
    if (n > 2) {
      EXPECT_EQ(want[1], 0.0f);
    }
    for (Isa isa : simd_isas()) expect_close(run(isa), want, 2e-6, 1e-37, std::string("softmax ") + isa_name(isa) + " n=" + std::to_string(n));
  }
}

TEST(KernelIsa, NormsMatchScalar) {
  std::mt19937 rng(6);
  for (int d : {1, 5, 8, 15, 16, 17, 64, 67, 768, 1000}) {
    const int n = 3;
    auto x = randn((size_t)n * d, rng, 3.0f), w = randn(d, rng), b = randn(d, rng);
    auto run = [&](Isa isa, int which) {
      return under(isa, [&] {
        std::vector<float> y((size_t)n * d);
        if (which == 0) rmsnorm(y.data(), x.data(), w.data(), n, d, 1e-5f);
        if (which == 1) layernorm(y.data(), x.data(), w.data(), b.data(), n, d, 1e-5f);
        if (which == 2) layernorm(y.data(), x.data(), w.data(), nullptr, n, d, 1e-5f);
        return y;
      });
    };
    for (int which : {0, 1, 2}) {
      const auto want = run(Isa::kScalar, which);
      for (Isa isa : simd_isas())
        expect_close(run(isa, which), want, 1e-5, 1e-5,
                     std::string(which == 0 ? "rmsnorm " : "layernorm ") + isa_name(isa) + " d=" + std::to_string(d));
    }
  }
  // In place (y aliases x), as the engine calls them.
  auto x = randn(768, rng), w = randn(768, rng);
  for (Isa isa : supported_isas()) {
    auto y = x, z = x;
    under(isa, [&] {
      rmsnorm(y.data(), y.data(), w.data(), 1, 768, 1e-5f);
      rmsnorm(z.data(), x.data(), w.data(), 1, 768, 1e-5f);
      return 0;
    });
    EXPECT_EQ(y, z) << isa_name(isa);
  }
}

// RoPE at positions up to Llama 3's context (angles up to 1.3e5 rad), both
// styles, head sizes with and without vector tails, Llama-3 scaled
// frequencies: the SIMD sin/cos match std::sin/std::cos to an ulp or two.
TEST(KernelIsa, RopeMatchesScalar) {
  std::mt19937 rng(8);
  for (int hd : {4, 8, 12, 24, 64, 128})
    for (bool llama3 : {false, true}) {
      std::vector<float> inv(hd / 2);
      rope_inv_freq(inv.data(), hd, llama3 ? 500000.0f : 10000.0f, llama3 ? 32.0f : 0.0f, 1.0f, 4.0f, 8192);
      const std::vector<int32_t> pos = {0, 1, 2, 7, 100, 511, 2047, 8191, 32767, 131071};
      const int n = (int)pos.size(), H = 3;
      auto x = randn((size_t)n * H * hd, rng);
      for (int style : {1, 2}) {
        auto run = [&](Isa isa) {
          return under(isa, [&] {
            auto y = x;
            rope(y.data(), pos.data(), n, H, hd, inv.data(), style);
            return y;
          });
        };
        const auto want = run(Isa::kScalar);
        for (Isa isa : simd_isas())
          expect_close(run(isa), want, 1e-6, 1e-6,
                       std::string("rope ") + isa_name(isa) + " hd=" + std::to_string(hd) + " style " + std::to_string(style));
      }
    }
}

TEST(KernelIsa, ActivationsMatchScalar) {
  std::mt19937 rng(9);
  for (int64_t count : {1, 7, 8, 9, 16, 33, 4096 + 5}) {
    auto g = randn(count, rng, 4.0f), u = randn(count, rng);
    const float extremes[] = {-200.0f, -90.0f, -45.0f, -0.0f, 0.0f, 1e-8f, 45.0f, 90.0f, 200.0f};
    for (int64_t i = 0; i < count && i < 9; ++i) g[i] = extremes[i];
    auto run = [&](Isa isa, bool swi) {
      return under(isa, [&] {
        auto y = g;
        if (swi) {
          swiglu(y.data(), g.data(), u.data(), count);
        } else {
          gelu(y.data(), count);
        }
        return y;
      });
    };
    for (bool swi : {true, false}) {
      const auto want = run(Isa::kScalar, swi);
      for (Isa isa : simd_isas())
        // gelu: the reference's 1 + tanh(t) cancels for negative v (its error
        // is up to |v|·2⁻²⁵ absolute; the SIMD form does not cancel).
        expect_close(run(isa, swi), want, 2e-6, swi ? 2e-7 : 1e-6,
                     std::string(swi ? "swiglu " : "gelu ") + isa_name(isa) + " count=" + std::to_string(count));
    }
  }
}

// Both attention paths (per-query loop: nq < 16; GEMMs: nq, nk ≥ 16) and the
// merge, under every ISA, against the scalar path.
TEST(KernelIsa, AttentionMatchesScalar) {
  std::mt19937 rng(10);
  const int H = 6, Hkv = 2;
  for (int hd : {8, 20, 64})
    for (const auto& shape : {std::pair{1, 1}, {3, 9}, {5, 40}, {20, 20}, {37, 70}}) {
      // Not a structured binding: clang 14 (scripts/sanitize tsa) cannot capture one in a lambda.
      const int nq = shape.first, nk = shape.second;
      auto q = randn((size_t)nq * H * hd, rng), k = randn((size_t)nk * Hkv * hd, rng), v = randn((size_t)nk * Hkv * hd, rng);
      std::vector<int32_t> qp(nq), kp(nk);
      for (int i = 0; i < nq; ++i) qp[i] = 2 * i + 1;
      for (int i = 0; i < nk; ++i) kp[i] = (i * 7) % (2 * nq + 3);  // unordered, some in the future
      auto run = [&](Isa isa) {
        return under(isa, [&] {
          std::vector<float> o((size_t)nq * H * hd), lse((size_t)nq * H), merged(o.size());
          attention_partial(o.data(), lse.data(), q.data(), qp.data(), nq, k.data(), v.data(), kp.data(), nk, H, Hkv, hd);
          const float* po[2] = {o.data(), o.data()};
          const float* pl[2] = {lse.data(), lse.data()};
          attention_merge(merged.data(), po, pl, 2, nq, H, hd);
          o.insert(o.end(), lse.begin(), lse.end());
          o.insert(o.end(), merged.begin(), merged.end());
          return o;
        });
      };
      const auto want = run(Isa::kScalar);
      for (Isa isa : simd_isas())
        expect_close(run(isa), want, 1e-5, 1e-5,
                     std::string("attention ") + isa_name(isa) + " hd=" + std::to_string(hd) + " nq=" + std::to_string(nq) +
                         " nk=" + std::to_string(nk));
    }
}

// Prefill-shaped attention: keys in ascending positions, several 128-query
// chunks (each GEMM stops at its last query's position), the first queries
// before any key. Equal, under every path, to one query at a time (the
// per-query loop, which visits exactly the visible keys).
TEST(KernelIsa, CausalChunksEqualPerQueryAttention) {
  std::mt19937 rng(12);
  const int H = 2, Hkv = 1, hd = 32, nq = 300, nk = 280;  // small: one query runs on one thread
  auto q = randn((size_t)nq * H * hd, rng), k = randn((size_t)nk * Hkv * hd, rng), v = randn((size_t)nk * Hkv * hd, rng);
  std::vector<int32_t> qp(nq), kp(nk);
  for (int i = 0; i < nq; ++i) qp[i] = i;
  for (int i = 0; i < nk; ++i) kp[i] = 20 + i;  // queries 0..19 see no key
  for (Isa isa : supported_isas()) {
    under(isa, [&] {
      std::vector<float> o((size_t)nq * H * hd), lse((size_t)nq * H), o1(o.size()), lse1(lse.size());
      attention_partial(o.data(), lse.data(), q.data(), qp.data(), nq, k.data(), v.data(), kp.data(), nk, H, Hkv, hd);
      for (int t = 0; t < nq; ++t)
        attention_partial(o1.data() + (size_t)t * H * hd, lse1.data() + (size_t)t * H, q.data() + (size_t)t * H * hd,
                          &qp[t], 1, k.data(), v.data(), kp.data(), nk, H, Hkv, hd);
      for (int t = 0; t < 20; ++t) EXPECT_TRUE(std::isinf(lse[(size_t)t * H]) && lse[(size_t)t * H] < 0) << t;
      expect_close(o, o1, 1e-5, 1e-5, std::string("out ") + isa_name(isa));
      expect_close(lse, lse1, 1e-5, 1e-5, std::string("lse ") + isa_name(isa));
      return 0;
    });
  }
}

}  // namespace
}  // namespace cascade
