#include "net/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "net/certs.h"
#include "util/error.h"

namespace cascade {
namespace {

std::string read_pem(const std::string& path, const std::string& what, const char* marker) {
  std::string pem = read_file(path, what);
  check(pem.find(marker) != std::string::npos,
        what + " " + path + " is not a PEM file (no \"" + marker + "\")");
  return pem;
}

}  // namespace

TlsIdentity load_tls_identity(const std::string& ca_path, const std::string& cert_path,
                              const std::string& key_path) {
  return {read_pem(ca_path, "CA certificate", "-----BEGIN CERTIFICATE-----"),
          read_pem(cert_path, "certificate", "-----BEGIN CERTIFICATE-----"),
          read_pem(key_path, "private key", "PRIVATE KEY-----")};
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsIdentity& id) {
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = id.ca_pem;
  opts.pem_key_cert_pairs.push_back({id.key_pem, id.cert_pem});
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsIdentity& id) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = id.ca_pem;
  opts.pem_private_key = id.key_pem;
  opts.pem_cert_chain = id.cert_pem;
  return grpc::SslCredentials(opts);
}

std::string identity_name(const NodeId& id) {
  switch (id.role) {
    case Role::kClient: return "client";
    case Role::kComp: return "comp" + std::to_string(id.index);
    case Role::kAttn: return "attn" + std::to_string(id.index);
  }
  return "?";
}

std::string peer_common_name(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return "";
  auto names = auth->FindPropertyValues("x509_common_name");
  return names.empty() ? "" : std::string(names.front().data(), names.front().size());
}

grpc::Status check_peer_is(const std::string& cn, const NodeId& claimed, int beta, const std::string& receiver,
                           const std::string& named) {
  const std::string want = named.empty() ? identity_name(claimed) : named;
  if (cn == want) return grpc::Status::OK;
  return {grpc::StatusCode::PERMISSION_DENIED,
          receiver + ": a message claiming to be from " + claimed.name(beta) + " came over TLS as '" + cn +
              "'; its certificate must be named '" + want + "'"};
}

}  // namespace cascade
