// Conversions between Cascade's structs and their protobuf form
// (proto/cascade.proto). Arrays travel as little-endian bytes.
#pragma once

#include <string>

#include <grpcpp/support/byte_buffer.h>

#include "model/model.h"
#include "nodes/message.h"
#include "plan/plan.h"
#include "proto/cascade.pb.h"

namespace cascade {

// A Link message, as bytes: a serialized wire::Envelope, written without
// protobuf's copies. The header fields go in one small slice; each array
// goes as a slice that points into the Message's own vector (taken over,
// freed when gRPC is done with it), so sending copies no payload before TLS.
grpc::ByteBuffer encode_link(Message m);

// What decode_link read. `malformed` says why the message is not a valid
// Message, and is empty when it is; even then msg.session is the Envelope's
// session id (0 when unreadable), so the refusal can name the session.
struct LinkMessage {
  Message msg;
  std::string malformed;
};
// Reads one Link message; each array is copied once, from gRPC's slices into
// the Message. Malformed: not an Envelope, an array whose byte length is not
// a whole number of elements, an unknown type or role. Row widths are the
// roles' to check.
LinkMessage decode_link(grpc::ByteBuffer& bytes);

// The same Envelope through protobuf's own API: for tools and tests that
// write Link messages with the generated stub (encode_link's bytes parse as
// exactly this Envelope).
void to_wire(const Message& m, wire::Envelope* env);

void to_wire(const NodeId& id, wire::NodeRef* ref);
// Throws Error on an unknown role or negative index.
NodeId from_wire(const wire::NodeRef& ref);

void to_wire(const PlanSpec& s, wire::PlanSpec* p);
PlanSpec from_wire(const wire::PlanSpec& p);

void to_wire(const ModelConfig& c, wire::ModelDims* d);
ModelConfig from_wire(const wire::ModelDims& d);

}  // namespace cascade
