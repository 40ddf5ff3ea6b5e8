// TLS identity of a party and the gRPC credentials built from it.
//
// Every link is mutual TLS against one private CA: servers require and verify
// a client certificate, clients verify the server's certificate and name and
// present their own.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

namespace cascade {

struct TlsIdentity {
  std::string ca_pem;    // the CA every peer's certificate must chain to
  std::string cert_pem;  // this party's certificate
  std::string key_pem;   // and its private key
};

// Reads the three PEM files. Throws Error naming the unreadable or non-PEM file.
TlsIdentity load_tls_identity(const std::string& ca_path, const std::string& cert_path,
                              const std::string& key_path);

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsIdentity& id);
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const TlsIdentity& id);

}  // namespace cascade
