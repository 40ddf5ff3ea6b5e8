// Cluster manifest — where a client finds the nodes of a plan, and its TLS files.
//
//   { "ca": "ca.pem",
//     "crl": "crl.pem",                                    // optional revocation list
//     "client": { "cert": "client.pem", "key": "client.key", "listen": "127.0.0.1:0",
//                 "advertise": "10.0.0.5:7000" },          // optional
//     "nodes": [ { "role": "comp", "index": 0, "address": "127.0.0.1:5001" },
//                { "role": "attn", "index": 3, "address": "127.0.0.1:5012" }, ... ],
//     "plan": { "alpha": 2, "beta": 2, "c": 6, "delta": 3, "front_layers": 1,
//               "public_prefix": 1, "client_head": -1, "horizon": 0 } }
//
// JSON rather than YAML: nlohmann-json is already a dependency. File paths are
// relative to the manifest's folder. AttnNode (a, b) has index a·β + b.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "net/address_book.h"
#include "plan/plan.h"

namespace cascade {

struct ClusterManifest {
  std::string ca;                           // CA certificate (PEM path)
  std::string crl;                          // the CA's revocation list (PEM path); empty = none
  std::string client_cert, client_key;      // the client's identity (PEM paths)
  std::string client_listen = "127.0.0.1:0";
  std::string client_advertise;             // address nodes call back; empty = the bound listen address
  AddressBook nodes;                        // every node of the plan
  PlanSpec plan;
};

// Parses and validates (see validate_manifest). Throws Error with one line:
// which field, which node, which file.
ClusterManifest parse_manifest(const nlohmann::json& j, const std::string& base_dir = ".");
ClusterManifest load_manifest(const std::string& path);
nlohmann::json manifest_to_json(const ClusterManifest& m);

// Every node of the plan has exactly one entry, no node outside the plan,
// no two nodes at one address, and the TLS files are readable PEM.
void validate_manifest(const ClusterManifest& m);

nlohmann::json plan_spec_to_json(const PlanSpec& s);
// Unknown keys are an error (a typo must not silently fall back to a default).
PlanSpec plan_spec_from_json(const nlohmann::json& j);

}  // namespace cascade
