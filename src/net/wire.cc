#include "net/wire.h"

#include <bit>
#include <cstring>

#include "util/error.h"

namespace cascade {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian; add byte swapping for this host");

namespace {

template <class T>
void put(const std::vector<T>& v, std::string* out) {
  out->assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <class T>
void get(const std::string& bytes, const char* field, std::vector<T>& v) {
  check(bytes.size() % sizeof(T) == 0,
        std::string("malformed payload: field ") + field + " has " + std::to_string(bytes.size()) +
            " bytes, not a whole number of " + std::to_string(sizeof(T)) + "-byte elements");
  v.resize(bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
}

}  // namespace

void to_wire(const NodeId& id, wire::NodeRef* ref) {
  ref->set_role((int32_t)id.role);
  ref->set_index(id.index);
}

NodeId from_wire(const wire::NodeRef& ref) {
  check(ref.role() >= (int)Role::kClient && ref.role() <= (int)Role::kAttn,
        "malformed message: unknown role " + std::to_string(ref.role()));
  check(ref.index() >= 0, "malformed message: negative node index");
  return {(Role)ref.role(), ref.index()};
}

void to_wire(const Message& m, wire::Envelope* env) {
  env->set_type((int32_t)m.type);
  to_wire(m.from, env->mutable_from());
  to_wire(m.to, env->mutable_to());
  env->set_session(m.session);
  env->set_step(m.step);
  env->set_layer(m.layer);
  env->set_pos_begin(m.pos_begin);
  env->set_pos_end(m.pos_end);
  env->set_flags(m.flags);
  put(m.pos, env->mutable_pos());
  put(m.rows, env->mutable_rows());
  put(m.kv_pos, env->mutable_kv_pos());
  put(m.k, env->mutable_k());
  put(m.v, env->mutable_v());
  put(m.lse, env->mutable_lse());
  env->set_text(m.text);
}

Message from_wire(const wire::Envelope& env) {
  Message m;
  check(env.type() >= (int)MsgType::kStepBegin && env.type() <= (int)MsgType::kCacheRows,
        "malformed message: unknown type " + std::to_string(env.type()));
  m.type = (MsgType)env.type();
  m.from = from_wire(env.from());
  m.to = from_wire(env.to());
  m.session = env.session();
  m.step = env.step();
  m.layer = env.layer();
  m.pos_begin = env.pos_begin();
  m.pos_end = env.pos_end();
  m.flags = env.flags();
  get(env.pos(), "pos", m.pos);
  get(env.rows(), "rows", m.rows);
  get(env.kv_pos(), "kv_pos", m.kv_pos);
  get(env.k(), "k", m.k);
  get(env.v(), "v", m.v);
  get(env.lse(), "lse", m.lse);
  m.text = env.text();
  return m;
}

void to_wire(const PlanSpec& s, wire::PlanSpec* p) {
  p->set_alpha(s.alpha);
  p->set_beta(s.beta);
  p->set_c(s.c);
  p->set_delta(s.delta);
  p->set_front_layers(s.front_layers);
  p->set_public_prefix(s.public_prefix);
  p->set_client_head(s.client_head);
  p->set_horizon(s.horizon);
}

PlanSpec from_wire(const wire::PlanSpec& p) {
  return PlanSpec{.alpha = p.alpha(), .beta = p.beta(), .c = p.c(), .delta = p.delta(),
                  .front_layers = p.front_layers(), .public_prefix = p.public_prefix(),
                  .client_head = p.client_head(), .horizon = p.horizon()};
}

void to_wire(const ModelConfig& c, wire::ModelDims* d) {
  d->set_arch((int32_t)c.arch);
  d->set_dim(c.dim);
  d->set_hidden_dim(c.hidden_dim);
  d->set_n_layers(c.n_layers);
  d->set_n_heads(c.n_heads);
  d->set_n_kv_heads(c.n_kv_heads);
  d->set_head_dim(c.head_dim);
  d->set_vocab_size(c.vocab_size);
  d->set_context_length(c.context_length);
  d->set_norm_eps(c.norm_eps);
  d->set_rope_style((int32_t)c.rope_style);
  d->set_rope_theta(c.rope_theta);
  d->set_rope_scale_factor(c.rope_scale_factor);
  d->set_rope_low_freq_factor(c.rope_low_freq_factor);
  d->set_rope_high_freq_factor(c.rope_high_freq_factor);
  d->set_rope_original_context(c.rope_original_context);
}

ModelConfig from_wire(const wire::ModelDims& d) {
  ModelConfig c;
  c.arch = (Arch)d.arch();
  c.dim = d.dim();
  c.hidden_dim = d.hidden_dim();
  c.n_layers = d.n_layers();
  c.n_heads = d.n_heads();
  c.n_kv_heads = d.n_kv_heads();
  c.head_dim = d.head_dim();
  c.vocab_size = d.vocab_size();
  c.context_length = d.context_length();
  c.norm_eps = d.norm_eps();
  c.rope_style = (RopeStyle)d.rope_style();
  c.rope_theta = d.rope_theta();
  c.rope_scale_factor = d.rope_scale_factor();
  c.rope_low_freq_factor = d.rope_low_freq_factor();
  c.rope_high_freq_factor = d.rope_high_freq_factor();
  c.rope_original_context = d.rope_original_context();
  return c;
}

}  // namespace cascade
