#include "net/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "net/certs.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade {
namespace {

std::string read_pem(const std::string& path, const std::string& what, const char* marker) {
  std::string pem = read_file(path, what);
  check(pem.find(marker) != std::string::npos,
        what + " " + path + " is not a PEM file (no \"" + marker + "\")");
  return pem;
}

// gRPC (1.51) reads revocation lists only from a hashed directory
// (set_crl_directory): each list is written once per process into a
// private folder of its own, as HASH.r0, and removed at exit.
class CrlDirs {
 public:
  ~CrlDirs() {
    std::error_code ec;
    for (const auto& [pem, dir] : dirs_) std::filesystem::remove_all(dir, ec);
  }
  const std::string& dir_for(const std::string& crl_pem) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = dirs_.find(crl_pem);
    if (it != dirs_.end()) return it->second;
    std::string tmpl = (std::filesystem::temp_directory_path() / "cascade-crl-XXXXXX").string();
    check(mkdtemp(tmpl.data()) != nullptr, "cannot make a folder for the revocation list in " +
                                               std::filesystem::temp_directory_path().string());
    write_file_atomic(tmpl + "/" + crl_issuer_hash(crl_pem) + ".r0", crl_pem);
    return dirs_[crl_pem] = tmpl;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> dirs_;
};

const std::string& crl_dir(const std::string& crl_pem) {
  static CrlDirs dirs;
  return dirs.dir_for(crl_pem);
}

std::shared_ptr<grpc::experimental::StaticDataCertificateProvider> provider(const TlsIdentity& id) {
  return std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      id.ca_pem, std::vector<grpc::experimental::IdentityKeyCertPair>{{id.key_pem, id.cert_pem}});
}

}  // namespace

TlsIdentity load_tls_identity(const std::string& ca_path, const std::string& cert_path,
                              const std::string& key_path, const std::string& crl_path) {
  TlsIdentity id{read_pem(ca_path, "CA certificate", "-----BEGIN CERTIFICATE-----"),
                 read_pem(cert_path, "certificate", "-----BEGIN CERTIFICATE-----"),
                 read_pem(key_path, "private key", "PRIVATE KEY-----"), ""};
  if (!crl_path.empty()) {
    id.crl_pem = read_pem(crl_path, "revocation list", "-----BEGIN X509 CRL-----");
    check_crl(id.crl_pem, id.ca_pem, crl_path);
  }
  return id;
}

// Without a revocation list, gRPC's SSL credentials; with one, its TLS
// credentials (the same handshake and checks, plus the list).
std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsIdentity& id) {
  if (!id.crl_pem.empty()) {
    grpc::experimental::TlsServerCredentialsOptions opts(provider(id));
    opts.watch_root_certs();
    opts.watch_identity_key_cert_pairs();
    opts.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.set_crl_directory(crl_dir(id.crl_pem));
    return grpc::experimental::TlsServerCredentials(opts);
  }
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = id.ca_pem;
  opts.pem_key_cert_pairs.push_back({id.key_pem, id.cert_pem});
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsIdentity& id) {
  if (!id.crl_pem.empty()) {
    grpc::experimental::TlsChannelCredentialsOptions opts;
    opts.set_certificate_provider(provider(id));
    opts.watch_root_certs();
    opts.watch_identity_key_cert_pairs();
    opts.set_crl_directory(crl_dir(id.crl_pem));
    return grpc::experimental::TlsCredentials(opts);
  }
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

grpc::Status check_peer_is(const std::string& cn, const NodeId& claimed, int beta, const std::string& receiver) {
  const std::string want = identity_name(claimed);
  if (cn == want) return grpc::Status::OK;
  return {grpc::StatusCode::PERMISSION_DENIED,
          receiver + ": a message claiming to be from " + claimed.name(beta) + " came over TLS as '" + cn +
              "'; its certificate must be named '" + want + "'"};
}

}  // namespace cascade
