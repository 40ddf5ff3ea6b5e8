// Kernel tests: the exact-merge identity that Cascade's correctness rests on.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace cascade {
namespace {

std::vector<float> randn(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Attention over all keys at once must equal the merge of partials over any
// split of the keys into shards (in any order), within fp32 rounding.
TEST(Kernels, MergeOfShardedPartialsEqualsFullAttention) {
  std::mt19937 rng(7);
  const int H = 8, Hkv = 4, hd = 16, N = 37;
  auto q = randn((size_t)N * H * hd, rng), k = randn((size_t)N * Hkv * hd, rng),
       v = randn((size_t)N * Hkv * hd, rng);
  std::vector<int32_t> pos(N);
  for (int i = 0; i < N; ++i) pos[i] = 100 + i;  // absolute positions, not 0-based
  std::vector<float> full((size_t)N * H * hd), full_lse((size_t)N * H);
  attention_partial(full.data(), full_lse.data(), q.data(), pos.data(), N, k.data(), v.data(),
                    pos.data(), N, H, Hkv, hd);

  for (int shards : {2, 3, 5}) {
    // Key shard of position i: i % shards, so keys arrive interleaved.
    std::vector<std::vector<float>> po(shards), pl(shards);
    for (int b = 0; b < shards; ++b) {
      std::vector<float> kb, vb;
      std::vector<int32_t> kp;
      for (int i = N - 1; i >= 0; --i) {  // reversed order: order must not matter
        if (i % shards != b) continue;
        kb.insert(kb.end(), k.begin() + (size_t)i * Hkv * hd, k.begin() + (size_t)(i + 1) * Hkv * hd);
        vb.insert(vb.end(), v.begin() + (size_t)i * Hkv * hd, v.begin() + (size_t)(i + 1) * Hkv * hd);
        kp.push_back(pos[i]);
      }
      po[b].resize((size_t)N * H * hd);
      pl[b].resize((size_t)N * H);
      attention_partial(po[b].data(), pl[b].data(), q.data(), pos.data(), N, kb.data(), vb.data(),
                        kp.data(), (int)kp.size(), H, Hkv, hd);
    }
    // Query at position 100 sees only key 100 (shard 0): the others are -inf.
    EXPECT_TRUE(std::isinf(pl[1][0]) && pl[1][0] < 0);
    std::vector<const float*> op, lp;
    for (int b = 0; b < shards; ++b) {
      op.push_back(po[b].data());
      lp.push_back(pl[b].data());
    }
    std::vector<float> merged((size_t)N * H * hd);
    attention_merge(merged.data(), op.data(), lp.data(), shards, N, H, hd);
    float maxdiff = 0.0f;
    for (size_t i = 0; i < merged.size(); ++i) {
      ASSERT_FALSE(std::isnan(merged[i]));
      maxdiff = std::max(maxdiff, std::fabs(merged[i] - full[i]));
    }
    EXPECT_LT(maxdiff, 1e-5f) << shards << " shards";
  }
}

TEST(Kernels, NoVisibleKeysGivesZeroAndNegInfNotNaN) {
  std::mt19937 rng(1);
  const int H = 2, hd = 8;
  auto q = randn(H * hd, rng), k = randn(H * hd, rng), v = randn(H * hd, rng);
  int32_t qp = 3, kp = 4;  // key in the future
  std::vector<float> o(H * hd, 1.0f), lse(H);
  attention_partial(o.data(), lse.data(), q.data(), &qp, 1, k.data(), v.data(), &kp, 1, H, H, hd);
  for (float x : o) EXPECT_EQ(x, 0.0f);
  for (float x : lse) EXPECT_TRUE(std::isinf(x) && x < 0);
  const float* op[1] = {o.data()};
  const float* lp[1] = {lse.data()};
  std::vector<float> m(H * hd, 5.0f);
  attention_merge(m.data(), op, lp, 1, 1, H, hd);
  for (float x : m) EXPECT_EQ(x, 0.0f);
}

// The panel GEMM against a double-precision reference: row counts around its
// 12-row tile, inputs across its 256-wide blocks, several panels; and each
// row's result independent of the other rows in the call (what makes a
// CompNode's rows equal the plaintext engine's).
TEST(Kernels, PanelGemmMatchesReferenceForAnyRowCount) {
  std::mt19937 rng(7);
  for (int in : {5, 67, 300, 520})
    for (int out : {kPanel, 3 * kPanel}) {
      auto W = randn((size_t)in * out, rng), b = randn(out, rng);
      std::vector<float> panels((size_t)in * out);
      pack_panels(panels.data(), W.data(), out, in);
      for (int n : {2, 11, 12, 13, 25, 64}) {
        auto x = randn((size_t)n * in, rng);
        std::vector<float> y((size_t)n * out), y_last(out);
        matmul(y.data(), x.data(), W.data(), b.data(), n, in, out, panels.data());
        // The last row again, with another row beside it.
        std::vector<float> two((size_t)2 * in), y_two((size_t)2 * out);
        std::copy(x.begin() + (size_t)(n - 1) * in, x.end(), two.begin());
        matmul(y_two.data(), two.data(), W.data(), b.data(), 2, in, out, panels.data());
        for (int i = 0; i < n; ++i)
          for (int r = 0; r < out; ++r) {
            double ref = b[r];
            for (int j = 0; j < in; ++j) ref += (double)W[(size_t)r * in + j] * x[(size_t)i * in + j];
            ASSERT_NEAR(y[(size_t)i * out + r], ref, 1e-4) << "in=" << in << " out=" << out << " n=" << n;
          }
        for (int r = 0; r < out; ++r) EXPECT_EQ(y_two[r], y[(size_t)(n - 1) * out + r]);
      }
    }
}

TEST(Kernels, MatmulGemvAndGemmAgree) {
  std::mt19937 rng(3);
  const int in = 67, out = 45, n = 5;
  auto W = randn((size_t)in * out, rng), x = randn((size_t)n * in, rng), b = randn(out, rng);
  std::vector<float> y((size_t)n * out), y1(out);
  matmul(y.data(), x.data(), W.data(), b.data(), n, in, out);
  for (int i = 0; i < n; ++i) {
    matmul(y1.data(), x.data() + (size_t)i * in, W.data(), b.data(), 1, in, out);
    for (int r = 0; r < out; ++r) {
      double ref = b[r];
      for (int j = 0; j < in; ++j) ref += (double)W[(size_t)r * in + j] * x[(size_t)i * in + j];
      EXPECT_NEAR(y[(size_t)i * out + r], ref, 1e-4);
      EXPECT_NEAR(y1[r], ref, 1e-4);
    }
  }
}

TEST(Kernels, RopeStylesRotatePairsAndPreserveNorm) {
  const int hd = 8;
  std::vector<float> inv(hd / 2);
  rope_inv_freq(inv.data(), hd, 10000.0f, 0, 1, 4, 8192);
  EXPECT_FLOAT_EQ(inv[0], 1.0f);
  EXPECT_NEAR(inv[1], std::pow(10000.0f, -0.25f), 1e-7);
  for (int style : {1, 2}) {
    std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8}, x0 = x;
    int32_t p = 5;
    rope(x.data(), &p, 1, 1, hd, inv.data(), style);
    double n0 = 0, n1 = 0;
    for (int i = 0; i < hd; ++i) n0 += x0[i] * x0[i], n1 += x[i] * x[i];
    EXPECT_NEAR(n0, n1, 1e-3);
    // Pair 0 rotates by angle 5 rad.
    const int a = 0, b = style == 1 ? 1 : hd / 2;
    EXPECT_NEAR(x[a], x0[a] * std::cos(5.0f) - x0[b] * std::sin(5.0f), 1e-5);
  }
  // Position 0 is the identity.
  std::vector<float> y = {1, 2, 3, 4, 5, 6, 7, 8};
  int32_t p0 = 0;
  rope(y.data(), &p0, 1, 1, hd, inv.data(), 1);
  EXPECT_EQ(y[3], 4.0f);
}

// Llama 3.1 frequency scaling; expected values from Meta's reference formula
// (as in HF transformers' _compute_llama3_parameters) for the Llama-3.2 shape.
TEST(Kernels, Llama3RopeScalingMatchesReference) {
  std::vector<float> inv(32);
  rope_inv_freq(inv.data(), 64, 500000.0f, 32.0f, 1.0f, 4.0f, 8192);
  const std::pair<int, double> want[] = {{0, 1.0},           {5, 0.128687373},      {10, 0.0165604401},
                                         {12, 0.00729266474}, {15, 0.00129054793},   {20, 8.57025549e-06},
                                         {31, 9.41830673e-08}};
  for (auto [j, v] : want) EXPECT_NEAR(inv[j], v, 1e-5 * v) << j;
}

TEST(Kernels, ArgmaxTiesGoToFirstIndex) {
  float x[] = {1, 3, 2, 3};
  EXPECT_EQ(argmax(x, 4), 1);
}

}  // namespace
}  // namespace cascade
