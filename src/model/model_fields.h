// The one list of a model's hyper-parameters.
//
// CASCADE_MODEL_FIELDS(X) calls X(type, name, default, doc) once per field of
// ModelConfig, in order. It declares ModelConfig's members (model.h), and
// SynthSpec inherits them (synth.h); the wire form is mapped by name through
// protobuf reflection (rpc/wire.cc), and a test holds the proto's ModelDims
// to this list by name and type, and every loader and the wire to a config
// whose every field differs from its default (tests/model_fields_test.cc).
//
// To add a field: add its line here, a field of the same name and type to
// ModelDims in proto/cascade.proto, and read it in each loader (and write it
// in synthesize_gguf) where the format has it. The test names what is
// missing.
//
// Types: int, float, or an enum with int32 values (Arch, RopeStyle), which
// travels as int32.
#pragma once

#define CASCADE_MODEL_FIELDS(X)                                                             \
  X(Arch, arch, Arch::kLlama, "architecture family")                                        \
  X(int, dim, 0, "d, residual width")                                                       \
  X(int, hidden_dim, 0, "FFN inner width")                                                  \
  X(int, n_layers, 0, "transformer blocks")                                                 \
  X(int, n_heads, 0, "query heads H")                                                       \
  X(int, n_kv_heads, 0, "key/value heads (== n_heads without GQA)")                         \
  X(int, head_dim, 0, "usually dim / n_heads")                                              \
  X(int, vocab_size, 0, "tokens")                                                           \
  X(int, context_length, 0, "maximum positions")                                            \
  X(float, norm_eps, 1e-5f, "epsilon of RMSNorm / LayerNorm")                               \
  X(RopeStyle, rope_style, RopeStyle::kAdjacent, "which pairs RoPE rotates")                \
  X(float, rope_theta, 10000.0f, "RoPE base frequency")                                     \
  X(float, rope_scale_factor, 0.0f, "Llama-3 frequency scaling (rope_type llama3); 0 = off") \
  X(float, rope_low_freq_factor, 1.0f, "Llama-3 scaling: low-frequency factor")              \
  X(float, rope_high_freq_factor, 4.0f, "Llama-3 scaling: high-frequency factor")            \
  X(int, rope_original_context, 8192, "Llama-3 scaling: original context length")
