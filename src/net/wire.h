// Conversions between Cascade's structs and their protobuf form
// (proto/cascade.proto). Arrays travel as little-endian bytes: one memcpy.
#pragma once

#include "model/model.h"
#include "nodes/message.h"
#include "plan/plan.h"
#include "proto/cascade.pb.h"

namespace cascade {

void to_wire(const Message& m, wire::Envelope* env);
// Throws Error when an array's byte length is not a whole number of elements
// or the type/role is unknown. Row widths are the roles' to check.
Message from_wire(const wire::Envelope& env);

void to_wire(const NodeId& id, wire::NodeRef* ref);
// Throws Error on an unknown role or negative index.
NodeId from_wire(const wire::NodeRef& ref);

void to_wire(const PlanSpec& s, wire::PlanSpec* p);
PlanSpec from_wire(const wire::PlanSpec& p);

void to_wire(const ModelConfig& c, wire::ModelDims* d);
ModelConfig from_wire(const wire::ModelDims& d);

}  // namespace cascade
