#include "rpc/wire.h"

#include <bit>
#include <cstring>
#include <memory>
#include <type_traits>

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
        [&] { return "malformed message: unknown type " + std::to_string(env.type()); });
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

// ModelDims' field `name` (a ModelConfig field of the same name: the test
// model_fields_test holds the proto to CASCADE_MODEL_FIELDS). Ints and enums
// travel as int32, floats as float.
const google::protobuf::FieldDescriptor* dims_field(const char* name) {
  const auto* f = wire::ModelDims::descriptor()->FindFieldByName(name);
  check(f != nullptr, [&] { return std::string("wire: ModelDims has no field ") + name; });
  return f;
}

template <class T>
void set_dims_field(wire::ModelDims& d, const char* name, T v) {
  const auto* f = dims_field(name);
  if constexpr (std::is_same_v<T, float>) d.GetReflection()->SetFloat(&d, f, v);
  else d.GetReflection()->SetInt32(&d, f, static_cast<int32_t>(v));
}

template <class T>
void get_dims_field(const wire::ModelDims& d, const char* name, T& v) {
  const auto* f = dims_field(name);
  if constexpr (std::is_same_v<T, float>) v = d.GetReflection()->GetFloat(d, f);
  else v = static_cast<T>(d.GetReflection()->GetInt32(d, f));
}

}  // namespace

void to_wire(const NodeId& id, wire::NodeRef* ref) {
  ref->set_role((int32_t)id.role);
  ref->set_index(id.index);
}

NodeId from_wire(const wire::NodeRef& ref) {
  check(ref.role() >= (int)Role::kClient && ref.role() <= (int)Role::kAttn,
        [&] { return "malformed message: unknown role " + std::to_string(ref.role()); });
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
#define CASCADE_MODEL_FIELD(type, name, def, doc) set_dims_field(*d, #name, c.name);
  CASCADE_MODEL_FIELDS(CASCADE_MODEL_FIELD)
#undef CASCADE_MODEL_FIELD
}

ModelConfig from_wire(const wire::ModelDims& d) {
  ModelConfig c;
#define CASCADE_MODEL_FIELD(type, name, def, doc) get_dims_field(d, #name, c.name);
  CASCADE_MODEL_FIELDS(CASCADE_MODEL_FIELD)
#undef CASCADE_MODEL_FIELD
  return c;
}

}  // namespace cascade
