// The per-row halves of a transformer block, and the model's ends.
//
// A block is split at the one operation that mixes tokens:
//
//   h ──block_qkv──▶ q, k, v ──(attention over keys)──▶ o ──block_finish──▶ h'
//
// block_qkv and block_finish are row-wise: each output row depends only on
// the same input row and its absolute position. So any party can run them on
// any subset of rows (a CompNode on its shard, the plaintext engine on all),
// and attention (kernels.h: attention_partial + attention_merge) can run
// somewhere else. These functions are the only layer math in Cascade.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace cascade {

// Reusable buffers for the row-wise functions; grows to the largest n seen.
struct RowScratch {
  std::vector<float> xb;    // normed input rows        [n][dim]
  std::vector<float> xb2;   // projected attention rows  [n][dim]
  std::vector<float> hb;    // FFN gate / up rows        [n][hidden]
  std::vector<float> hb2;   // FFN up rows               [n][hidden]
  std::vector<float> inv_freq;  // RoPE inverse frequencies [head_dim/2]
  void ensure(const ModelConfig& cfg, int n);
};

// h[n][dim] = embedding of tokens at absolute positions pos (GPT-2 adds the
// learned position embedding). Context-free: this is the client's first step.
// Throws Error on a token id outside the vocabulary or a position outside the
// context, before writing anything.
void embed_rows(const Model& m, const int32_t* tokens, const int32_t* pos, int n, float* h);

// q[n][q_dim], k[n][kv_dim], v[n][kv_dim] of block `layer` for residual rows
// h[n][dim] at absolute positions pos (norm, projections, biases, RoPE).
void block_qkv(const Model& m, int layer, const float* h, const int32_t* pos, int n, float* q,
               float* k, float* v, RowScratch& s);

// h += W_o·o (+ b_o); then h += MLP(norm(h)). o[n][q_dim] is the merged
// attention output of the same rows. block_finish is block_attn_out, then
// block_ffn; the halves exist for replays that need the middle residual.
void block_finish(const Model& m, int layer, float* h, const float* o, int n, RowScratch& s);
void block_attn_out(const Model& m, int layer, float* h, const float* o, int n, RowScratch& s);
void block_ffn(const Model& m, int layer, float* h, int n, RowScratch& s);

// logits[n][vocab] = LM head of the final-normed rows h[n][dim].
void final_logits(const Model& m, const float* h, int n, float* logits, RowScratch& s);

}  // namespace cascade
