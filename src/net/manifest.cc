#include "net/manifest.h"

#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "net/tls.h"
#include "util/error.h"

namespace cascade {
namespace {

using nlohmann::json;

const json& field(const json& j, const char* key, const std::string& where) {
  check(j.is_object() && j.contains(key), "manifest: " + where + " has no \"" + key + "\"");
  return j.at(key);
}

std::string string_field(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  check(v.is_string() && !v.get<std::string>().empty(),
        "manifest: " + where + "." + key + " must be a non-empty string");
  return v.get<std::string>();
}

// An integer JSON value that get<int>() returns unchanged.
bool fits_int(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= (uint64_t)INT_MAX;
  return v.is_number_integer() && v.get<int64_t>() >= INT_MIN && v.get<int64_t>() <= INT_MAX;
}

std::string resolve(const std::string& base, const std::string& p) {
  return std::filesystem::path(p).is_absolute() ? p : (std::filesystem::path(base) / p).string();
}

}  // namespace

json plan_spec_to_json(const PlanSpec& s) {
  return json{{"alpha", s.alpha},   {"beta", s.beta},
              {"c", s.c},           {"delta", s.delta},
              {"front_layers", s.front_layers}, {"public_prefix", s.public_prefix},
              {"client_head", s.client_head},   {"horizon", s.horizon},
              {"protocol", protocol_name(s.protocol)}};
}

PlanSpec plan_spec_from_json(const json& j) {
  check(j.is_object(), "manifest: \"plan\" must be an object");
  PlanSpec s;
  const std::map<std::string, int*> keys = {
      {"alpha", &s.alpha},       {"beta", &s.beta},
      {"c", &s.c},               {"delta", &s.delta},
      {"front_layers", &s.front_layers}, {"F", &s.front_layers},
      {"public_prefix", &s.public_prefix}, {"client_head", &s.client_head},
      {"horizon", &s.horizon}};
  for (auto& [k, v] : j.items()) {
    if (k == "protocol") {
      check(v.is_string(), "manifest: plan.protocol must be \"private\" or \"paper\"");
      s.protocol = parse_protocol(v.get<std::string>());
      continue;
    }
    auto it = keys.find(k);
    check(it != keys.end(), "manifest: unknown plan key \"" + k + "\"");
    check(v.is_number_integer() && fits_int(v), "manifest: plan." + k + " must be an integer in int range");
    *it->second = v.get<int>();
  }
  return s;
}

ClusterManifest parse_manifest(const json& j, const std::string& base_dir) {
  check(j.is_object(), "manifest: the top level must be a JSON object");
  ClusterManifest m;
  m.ca = resolve(base_dir, string_field(j, "ca", "the manifest"));
  if (j.contains("crl")) m.crl = resolve(base_dir, string_field(j, "crl", "the manifest"));
  const json& c = field(j, "client", "the manifest");
  m.client_cert = resolve(base_dir, string_field(c, "cert", "client"));
  m.client_key = resolve(base_dir, string_field(c, "key", "client"));
  if (c.contains("listen")) m.client_listen = string_field(c, "listen", "client");
  if (c.contains("advertise")) m.client_advertise = string_field(c, "advertise", "client");
  m.plan = plan_spec_from_json(field(j, "plan", "the manifest"));

  const json& nodes = field(j, "nodes", "the manifest");
  check(nodes.is_array(), "manifest: \"nodes\" must be an array");
  const int beta = std::max(1, m.plan.beta);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string where = "nodes[" + std::to_string(i) + "]";
    const std::string role = string_field(nodes[i], "role", where);
    check(role == "comp" || role == "attn", "manifest: " + where + ".role must be \"comp\" or \"attn\", not \"" + role + "\"");
    const json& idx = field(nodes[i], "index", where);
    check(fits_int(idx) && idx.get<int>() >= 0, "manifest: " + where + ".index must be an integer >= 0");
    const NodeId id{role == "comp" ? Role::kComp : Role::kAttn, idx.get<int32_t>()};
    check(!m.nodes.count(id), "manifest: " + id.name(beta) + " is listed twice");
    m.nodes[id] = string_field(nodes[i], "address", where);
  }
  if (j.contains("spares")) {
    const json& spares = j.at("spares");
    check(spares.is_array(), "manifest: \"spares\" must be an array of {\"role\", \"address\"}");
    for (size_t i = 0; i < spares.size(); ++i) {
      const std::string where = "spares[" + std::to_string(i) + "]";
      const std::string role = string_field(spares[i], "role", where);
      check(role == "comp" || role == "attn", "manifest: " + where + ".role must be \"comp\" or \"attn\", not \"" + role + "\"");
      check(!spares[i].contains("index"), "manifest: " + where + " has an \"index\"; a spare has no place in the plan "
                                          "until it takes a failed node's (list placed nodes under \"nodes\")");
      m.spares.push_back({role == "comp" ? Role::kComp : Role::kAttn, string_field(spares[i], "address", where)});
    }
  }
  validate_manifest(m);
  return m;
}

ClusterManifest load_manifest(const std::string& path) {
  std::ifstream f(path);
  check(f.good(), "cannot read the manifest " + path);
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw Error("manifest " + path + " is not valid JSON: " + e.what());
  }
  return parse_manifest(j, std::filesystem::path(path).parent_path().string());
}

void validate_manifest(const ClusterManifest& m) {
  const PlanSpec& s = m.plan;
  check(s.alpha >= 1 && s.alpha <= 4096 && s.beta >= 1 && s.beta <= 64,
        "manifest: plan.alpha must be in 1..4096 and plan.beta in 1..64 (as for any plan)");
  std::set<std::string> addresses;
  for (const auto& [id, addr] : m.nodes) {
    const bool in_plan = id.role == Role::kComp ? id.index < s.alpha : id.index < s.beta * s.beta;
    check(in_plan, "manifest: " + id.name(s.beta) + " is not part of the plan (alpha=" + std::to_string(s.alpha) +
                       ", beta=" + std::to_string(s.beta) + ")");
    check(addr.find(':') != std::string::npos, "manifest: " + id.name(s.beta) + " address \"" + addr + "\" is not host:port");
    check(addresses.insert(addr).second, "manifest: two nodes at address " + addr + " (one node per address)");
  }
  for (const SpareNode& sp : m.spares) {
    check(sp.address.find(':') != std::string::npos, "manifest: spare address \"" + sp.address + "\" is not host:port");
    check(addresses.insert(sp.address).second,
          "manifest: spare " + sp.address + " is listed twice, or is also a node of the plan (one node per address)");
  }
  std::string missing;
  for (int r = 0; r < s.alpha; ++r)
    if (!m.nodes.count({Role::kComp, r})) missing += " comp" + std::to_string(r);
  for (int i = 0; i < s.beta * s.beta; ++i)
    if (!m.nodes.count({Role::kAttn, i})) missing += " " + NodeId{Role::kAttn, i}.name(s.beta);
  check(missing.empty(), "manifest: the plan (alpha=" + std::to_string(s.alpha) + ", beta=" + std::to_string(s.beta) +
                             ") needs nodes that are not listed:" + missing);
  load_tls_identity(m.ca, m.client_cert, m.client_key, m.crl);  // throws naming the unreadable file
}

json manifest_to_json(const ClusterManifest& m) {
  json nodes = json::array();
  for (const auto& [id, addr] : m.nodes)
    nodes.push_back({{"role", id.role == Role::kComp ? "comp" : "attn"}, {"index", id.index}, {"address", addr}});
  json client{{"cert", m.client_cert}, {"key", m.client_key}, {"listen", m.client_listen}};
  if (!m.client_advertise.empty()) client["advertise"] = m.client_advertise;
  json out{{"ca", m.ca}, {"client", client}, {"nodes", nodes}, {"plan", plan_spec_to_json(m.plan)}};
  if (!m.crl.empty()) out["crl"] = m.crl;
  if (!m.spares.empty()) {
    json spares = json::array();
    for (const SpareNode& sp : m.spares)
      spares.push_back({{"role", sp.role == Role::kComp ? "comp" : "attn"}, {"address", sp.address}});
    out["spares"] = spares;
  }
  return out;
}

}  // namespace cascade
