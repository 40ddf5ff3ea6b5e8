// AttnMask — the secret, exactly invertible masks of the private protocol.
//
// AttnNodes compute attention on rows they cannot read. For every block ℓ,
// kv head g and AttnNode (a, b), the client draws (from the session secret,
// which only it and the CompNodes hold) an invertible M of size hd' = hd + 1;
// for every block, kv head and query shard a, an invertible P. Rows are
// augmented by one coordinate, then masked:
//
//   q' = [q·√hd'/√hd, α·√hd'] · M        (per query head; α secret per row, block and head)
//   k' = [k, 1] · M⁻ᵀ                    so  q'·k'/√hd' = q·k/√hd + α
//   v' = [v, r] · P                      (r random, dropped on unmasking)
//
// Softmax is shift-invariant, so an AttnNode's partial output is the true one
// times P, and its log-sum-exp is the true one plus α: the score of a query
// with its own key (which fingerprints the token) never appears unshifted.
// Partials of one query shard share P, so the merger can merge them as they
// are; the CompNode unmasks the merged output (·P⁻¹, first hd coordinates,
// lse − α).
//
// M and P are M = H₁H₂·D·H₃H₄ with Householder reflections Hᵢ = I − 2uuᵀ and
// a diagonal D drawn log-uniform in [1/2, 2]; so M⁻ᵀ = H₁H₂·D⁻¹·H₃H₄ and
// applying either costs O(hd) per row and head. They are drawn lazily and
// kept for the session.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "model/model.h"

namespace cascade {

// 32 random bytes from OpenSSL's generator: one per session, made by the client.
std::string new_session_secret();

class AttnMask {
 public:
  // Throws Error when the secret is not 32 bytes.
  AttnMask(const ModelConfig& cfg, std::string secret);

  int width() const { return hd_ + 1; }  // hd': a masked head's width

  // The score shifts α[n_heads] of the row at `pos` in block `layer`: uniform
  // in [-kScoreShift, kScoreShift], a pure function of the secret, so the
  // CompNode that masks a row and the client that serves its head partial
  // agree without sending α anywhere but to the client.
  static constexpr float kScoreShift = 4.0f;
  void alpha(int layer, int pos, float* out) const;

  // Rows for AttnNode (a, b) of block `layer`. q[n][H·hd] with alpha[n][H]
  // → out[n][H·hd']; k[n][KV·hd] → out[n][KV·hd']; v[n][KV·hd] → out[n][KV·hd'].
  void mask_q(int layer, int a, int b, const float* q, const float* alpha, int n, float* out) const;
  void mask_k(int layer, int a, int b, const float* k, int n, float* out) const;
  void mask_v(int layer, int a, const float* v, int n, float* out);
  // A partial output o[n][H·hd] computed in the clear (the client's head
  // partial) → out[n][H·hd'], as if the AttnNodes had computed it.
  void mask_out(int layer, int a, const float* o, int n, float* out) const;
  // A merged, masked output o'[n][H·hd'] → o[n][H·hd].
  void unmask_out(int layer, int a, const float* masked, int n, float* o) const;
  // The inverses of mask_q / mask_k / mask_v, for the audit of a coalition
  // that holds the secret (a CompNode with AttnNodes): clear q (and α), k, v.
  void unmask_q(int layer, int a, int b, const float* masked, int n, float* q, float* alpha) const;
  void unmask_k(int layer, int a, int b, const float* masked, int n, float* k) const;
  void unmask_v(int layer, int a, const float* masked, int n, float* v) const;

 private:
  struct Mix {                 // H₁H₂·D·H₃H₄ over hd' coordinates
    std::vector<double> u[4];  // unit vectors of the reflections
    std::vector<double> d;     // the diagonal
  };
  // Row vector x (hd' values) times the mix; `inverse_diag` uses D⁻¹.
  void apply(const Mix& m, bool inverse_diag, double* x) const;
  // x · Mix⁻¹ = x · H₄H₃·D⁻¹·H₂H₁, or with `transpose`, x · Mixᵀ = x · H₄H₃·D·H₂H₁.
  void apply_inverse(const Mix& m, double* x, bool transpose = false) const;
  template <class MixOf, class Op>
  void per_head(int n, int heads, const float* src, int in_w, float* dst, int out_w, MixOf mix_of, Op op) const;
  const Mix& qk_mix(int layer, int g, int a, int b) const;
  const Mix& v_mix(int layer, int g, int a) const;
  Mix draw(int kind, int layer, int g, int a, int b) const;

  ModelConfig cfg_;
  std::string secret_;
  int hd_;
  uint64_t noise_state_;  // r of masked v rows: not secret-derived, never unmasked
  uint64_t alpha_key_;    // from the secret: keys the α stream
  mutable std::map<std::tuple<int, int, int, int>, Mix> qk_, v_;
};

}  // namespace cascade
