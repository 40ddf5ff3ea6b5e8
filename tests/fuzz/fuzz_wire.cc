// Fuzz target: what a node decodes from its peers.
//
// Input: u8 selector, then the message bytes.
//  * selector even: a Link message, cut into (selector / 2) % 8 + 1 slices
//    as gRPC may deliver it, through decode_link. A message decode_link
//    accepts must hold arrays of whole elements.
//  * selector odd: a wire::SessionSetup, checked the way NodeServer's
//    OpenSession checks one before it builds a session: from_wire of the
//    node ids, plan and model dims, validate_config, Plan::make, the plan's
//    nodes looked up in the address book.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "net/address_book.h"
#include "rpc/wire.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/error.h"

namespace {

using namespace cascade;

void link_message(const uint8_t* data, size_t size, int n_slices) {
  std::vector<grpc::Slice> slices;
  size_t at = 0;
  for (int i = 0; i < n_slices; ++i) {
    const size_t end = i + 1 == n_slices ? size : size * (i + 1) / n_slices;
    slices.emplace_back(data + at, end - at);
    at = end;
  }
  grpc::ByteBuffer buf(slices.data(), slices.size());
  LinkMessage m = decode_link(buf);
  if (m.malformed.empty()) (void)m.msg.to.name(4), (void)m.msg.from.name(4);
}

void session_setup(const uint8_t* data, size_t size) {
  wire::SessionSetup req;
  if (!req.ParseFromArray(data, (int)size)) return;
  try {
    const NodeId self = from_wire(req.self());
    const PlanSpec spec = from_wire(req.plan());
    const int beta = std::max(1, spec.beta);
    AddressBook book;
    for (const auto& p : req.peers()) book[from_wire(p.id())] = p.address();
    (void)self.name(beta);
    const ModelConfig cfg = from_wire(req.dims());
    validate_config(cfg);
    const Plan plan = Plan::make(spec, cfg);
    for (const NodeId& n : plan.nodes()) (void)book.count(n), (void)n.name(beta);
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cascade::fuzz::quiet();
  if (size == 0) return 0;
  const uint8_t sel = data[0];
  if (sel % 2 == 0) link_message(data + 1, size - 1, (sel / 2) % 8 + 1);
  else session_setup(data + 1, size - 1);
  return 0;
}
