#include "rpc/spare_pool.h"

#include <spdlog/spdlog.h>

#include "rpc/peer_link.h"
#include "util/error.h"

namespace cascade {

SparePool::SparePool(AddressBook nodes, std::vector<SpareNode> spares, TlsIdentity tls, std::string model_sha256,
                     LinkOptions link)
    : placement_{std::move(nodes), {}},
      spares_(spares.begin(), spares.end()),
      tls_(std::move(tls)),
      model_sha256_(std::move(model_sha256)),
      link_(link),
      channels_(std::make_unique<PeerChannels>(channel_credentials(tls_), link_)) {
  placement_.nodes.erase({Role::kClient, 0});
}

SparePool::~SparePool() = default;

Placement SparePool::placement() const {
  std::lock_guard<std::mutex> lock(mu_);
  return placement_;
}

void SparePool::add_spare(SpareNode spare) {
  std::lock_guard<std::mutex> lock(mu_);
  spares_.push_back(std::move(spare));
}

int SparePool::spares_left(Role role) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const SpareNode& s : spares_) n += s.role == role;
  return n;
}

int SparePool::spares_dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

std::optional<std::string> SparePool::check_spare(const SpareNode& s, const NodeId& node, std::string& why) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + link_.rpc_deadline);
  wire::HealthRequest req;
  wire::HealthReply rep;
  const grpc::Status st = channels_->stub(s.address).Health(&ctx, req, &rep);
  if (!st.ok()) {
    why = "does not answer: " + st.error_message();
    return std::nullopt;
  }
  if (rep.role() != (int32_t)node.role) {
    why = "serves another role";
    return std::nullopt;
  }
  if (node.role == Role::kComp && rep.model_sha256() != model_sha256_) {
    why = "serves another model (SHA-256 " + rep.model_sha256() + ")";
    return std::nullopt;
  }
  auto auth = ctx.auth_context();
  auto names = auth ? auth->FindPropertyValues("x509_common_name") : std::vector<grpc::string_ref>{};
  if (names.empty()) {
    why = "presented no certificate name";
    return std::nullopt;
  }
  const std::string cn(names.front().data(), names.front().size());
  // A name another party of the session goes by would let the spare speak for it.
  bool clash = cn == identity_name({Role::kClient, 0});
  for (const auto& [id, addr] : placement_.nodes) {
    if (id == node) continue;
    auto named = placement_.identities.find(id);
    clash = clash || cn == (named == placement_.identities.end() ? identity_name(id) : named->second);
  }
  if (clash) {
    why = "has the certificate name '" + cn + "' of another party of the plan";
    return std::nullopt;
  }
  return cn;
}

std::optional<SparePool::Outcome> SparePool::replace(const NodeId& node, const std::string& failed_address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto at = placement_.nodes.find(node);
  check(at != placement_.nodes.end(), "spare pool: " + identity_name(node) + " is not a node of the plan");
  if (at->second != failed_address) return Outcome{placement_, at->second, false};  // replaced already
  for (auto it = spares_.begin(); it != spares_.end();) {
    if (it->role != node.role) {
      ++it;
      continue;
    }
    const SpareNode spare = *it;
    it = spares_.erase(it);
    std::string why;
    auto cn = check_spare(spare, node, why);
    if (!cn) {
      spdlog::warn("spare {} cannot take the place of {}: {}", spare.address, identity_name(node), why);
      ++dropped_;
      continue;
    }
    at->second = spare.address;
    if (*cn == identity_name(node))
      placement_.identities.erase(node);
    else
      placement_.identities[node] = *cn;
    return Outcome{placement_, spare.address, true};
  }
  return std::nullopt;
}

}  // namespace cascade
