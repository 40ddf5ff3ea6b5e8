// TLS identity of a party and the gRPC credentials built from it.
//
// Every link is mutual TLS against one private CA: servers require and verify
// a client certificate, clients verify the server's certificate and name and
// present their own. OpenSSL refuses an expired or not yet valid
// certificate on either side. With a revocation list (CRL) from the CA,
// a certificate it lists is refused too, on either side: the TLS handshake
// fails, and the peer sees an unreachable party.
//
// Roles travel in the certificate's common name (identity_name): only a
// certificate named "client" may open sessions, and a message must come
// over TLS from the party it claims to be from.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include "plan/plan.h"

namespace cascade {

struct TlsIdentity {
  std::string ca_pem;    // the CA every peer's certificate must chain to
  std::string cert_pem;  // this party's certificate
  std::string key_pem;   // and its private key
  std::string crl_pem;   // optional: the CA's revocation list
};

// Reads the PEM files (the CRL only when `crl_path` is not empty, checked
// with check_crl). Throws Error naming the unreadable or non-PEM file.
TlsIdentity load_tls_identity(const std::string& ca_path, const std::string& cert_path,
                              const std::string& key_path, const std::string& crl_path = "");

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsIdentity& id);
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsIdentity& id);

// The common name a party's certificate must carry: "client", "comp<r>",
// "attn<i>" (i = a·β + b), as `cascade cert` and the embedded launcher name
// them. A receiver checks it against the sender a message claims, so a
// certificate from the cluster's CA cannot speak for another party.
std::string identity_name(const NodeId& id);

// The verified common name of the TLS peer of an incoming call ("" if none).
std::string peer_common_name(const grpc::ServerContextBase& ctx);

// OK, or PERMISSION_DENIED naming both, when the peer whose verified common
// name is `peer_cn` (peer_common_name) is not `claimed`.
grpc::Status check_peer_is(const std::string& peer_cn, const NodeId& claimed, int beta,
                           const std::string& receiver);

}  // namespace cascade
