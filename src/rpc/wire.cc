#include "rpc/wire.h"

#include <bit>
#include <cstring>
#include <memory>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "util/error.h"

namespace cascade {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian; add byte swapping for this host");

namespace {

namespace pbio = google::protobuf::io;
using google::protobuf::internal::WireFormatLite;

// The Envelope's array fields (proto/cascade.proto).
constexpr int kPosField = 10, kRowsField = 11, kKvPosField = 12, kKField = 13, kVField = 14, kLseField = 15;

// Every field but the arrays.
void header_to_wire(const Message& m, wire::Envelope* env) {
  env->set_type((int32_t)m.type);
  to_wire(m.from, env->mutable_from());
  to_wire(m.to, env->mutable_to());
  env->set_session(m.session);
  env->set_step(m.step);
  env->set_layer(m.layer);
  env->set_pos_begin(m.pos_begin);
  env->set_pos_end(m.pos_end);
  env->set_flags(m.flags);
  env->set_text(m.text);
}

template <class T>
void put(const std::vector<T>& v, std::string* out) {
  out->assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// The key and length of a bytes field, then a slice over `v` that keeps
// `owner` (which holds v) alive until gRPC releases it.
template <class T>
void append_array(int field, const std::vector<T>& v, const std::shared_ptr<const Message>& owner,
                  std::vector<grpc::Slice>& slices) {
  if (v.empty()) return;
  const size_t bytes = v.size() * sizeof(T);
  uint8_t key[16];
  uint8_t* end = pbio::CodedOutputStream::WriteTagToArray(
      WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED), key);
  end = pbio::CodedOutputStream::WriteVarint64ToArray(bytes, end);
  slices.emplace_back(key, end - key);
  slices.emplace_back(const_cast<T*>(v.data()), bytes,
                      [](void* held) { delete static_cast<std::shared_ptr<const Message>*>(held); },
                      new std::shared_ptr<const Message>(owner));
}

// Reads a bytes field's length and contents into `v`.
template <class T>
bool read_array(pbio::CodedInputStream& in, const char* field, std::vector<T>& v, std::string& malformed) {
  uint32_t bytes;
  if (!in.ReadVarint32(&bytes)) return false;
  // A length past the message's end is not read (nor allocated for: a few
  // bytes must not make the receiver reserve gigabytes).
  if ((int64_t)bytes > in.BytesUntilLimit()) return false;
  if (bytes % sizeof(T) != 0) {
    if (malformed.empty())
      malformed = std::string("malformed payload: field ") + field + " has " + std::to_string(bytes) +
                  " bytes, not a whole number of " + std::to_string(sizeof(T)) + "-byte elements";
    return in.Skip((int)bytes);
  }
  v.resize(bytes / sizeof(T));
  return bytes == 0 || in.ReadRaw(v.data(), (int)bytes);
}

// The header's fields into `m`; throws Error on an unknown type or role.
void header_from_wire(const wire::Envelope& env, Message& m) {
  check(env.type() >= (int)MsgType::kStepBegin && env.type() <= (int)MsgType::kMerged,
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
  m.text = env.text();
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
  header_to_wire(m, env);
  put(m.pos, env->mutable_pos());
  put(m.rows, env->mutable_rows());
  put(m.kv_pos, env->mutable_kv_pos());
  put(m.k, env->mutable_k());
  put(m.v, env->mutable_v());
  put(m.lse, env->mutable_lse());
}

grpc::ByteBuffer encode_link(Message m) {
  wire::Envelope header;
  header_to_wire(m, &header);
  const std::string header_bytes = header.SerializeAsString();
  auto owner = std::make_shared<const Message>(std::move(m));
  std::vector<grpc::Slice> slices;
  slices.reserve(13);
  slices.emplace_back(header_bytes);
  append_array(kPosField, owner->pos, owner, slices);
  append_array(kRowsField, owner->rows, owner, slices);
  append_array(kKvPosField, owner->kv_pos, owner, slices);
  append_array(kKField, owner->k, owner, slices);
  append_array(kVField, owner->v, owner, slices);
  append_array(kLseField, owner->lse, owner, slices);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

LinkMessage decode_link(grpc::ByteBuffer& bytes) {
  LinkMessage out;
  Message& m = out.msg;
  // Every non-array field is copied as it is into `header`, parsed by
  // protobuf below; the arrays are read straight into the Message.
  std::string header;
  bool readable = true;
  {
    grpc::ProtoBufferReader reader(&bytes);
    pbio::CodedInputStream in(&reader);
    in.PushLimit((int)bytes.Length());  // so that BytesUntilLimit() is what is left
    pbio::StringOutputStream header_stream(&header);
    pbio::CodedOutputStream header_out(&header_stream);
    while (readable) {
      const uint32_t tag = in.ReadTag();
      if (tag == 0) {
        readable = in.ConsumedEntireMessage();
        break;
      }
      const bool delimited = WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
      switch (delimited ? WireFormatLite::GetTagFieldNumber(tag) : 0) {
        case kPosField: readable = read_array(in, "pos", m.pos, out.malformed); break;
        case kRowsField: readable = read_array(in, "rows", m.rows, out.malformed); break;
        case kKvPosField: readable = read_array(in, "kv_pos", m.kv_pos, out.malformed); break;
        case kKField: readable = read_array(in, "k", m.k, out.malformed); break;
        case kVField: readable = read_array(in, "v", m.v, out.malformed); break;
        case kLseField: readable = read_array(in, "lse", m.lse, out.malformed); break;
        default: readable = WireFormatLite::SkipField(&in, tag, &header_out);
      }
    }
  }
  wire::Envelope env;
  if (!env.ParseFromString(header)) readable = false;
  m.session = env.session();
  if (!readable) {
    out.malformed = "malformed message: not a Cascade Envelope";
    return out;
  }
  try {
    header_from_wire(env, m);
  } catch (const Error& e) {
    if (out.malformed.empty()) out.malformed = e.what();
  }
  return out;
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
  p->set_protocol((int32_t)s.protocol);
}

PlanSpec from_wire(const wire::PlanSpec& p) {
  return PlanSpec{.alpha = p.alpha(), .beta = p.beta(), .c = p.c(), .delta = p.delta(),
                  .front_layers = p.front_layers(), .public_prefix = p.public_prefix(),
                  .client_head = p.client_head(), .horizon = p.horizon(), .protocol = (Protocol)p.protocol()};
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
