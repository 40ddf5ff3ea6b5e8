// Certificates for Cascade's mutual TLS: a private CA and leaf certificates.
//
// Every party (client, CompNode, AttnNode) is both a TLS server and a TLS
// client, so one leaf carries both serverAuth and clientAuth, and names the
// hosts it is reached at (subjectAltName). Keys are ECDSA P-256; OpenSSL 3's
// EVP API only. Used by `cascade cert` and by LocalProcessCluster's
// throwaway PKI.
#pragma once

#include <string>
#include <vector>

namespace cascade {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8, unencrypted
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign).
CertAndKey make_ca(const std::string& common_name, int valid_days = 365);

// A leaf signed by `ca`. `names` become subjectAltNames: entries that parse
// as an IPv4/IPv6 address are IP names, the rest DNS names. 127.0.0.1 and
// localhost are always included so loopback deployments verify. It is valid
// from `starts_in_days` from now (an hour earlier, for clock skew) for
// `valid_days`; a start in the past and a short validity make an expired
// certificate (tests).
CertAndKey make_leaf(const CertAndKey& ca, const std::string& common_name,
                     const std::vector<std::string>& names = {}, int valid_days = 365, int starts_in_days = 0);

// A certificate revocation list (PEM) signed by `ca`, listing the serial
// numbers of `revoked` (PEM certificates) and every entry of `previous` (a
// list of the same CA, or empty), valid for `valid_days`.
std::string make_crl(const CertAndKey& ca, const std::vector<std::string>& revoked, int valid_days = 30,
                     const std::string& previous = "");

// Checks that `crl_pem` is a PEM revocation list issued and signed by the CA
// `ca_pem` and not past its next update; throws Error naming `path` and
// what is wrong (an expired list would refuse every peer).
void check_crl(const std::string& crl_pem, const std::string& ca_pem, const std::string& path);

// How many certificates the list revokes.
int crl_entries(const std::string& crl_pem);

// OpenSSL's subject-name hash of the list's issuer, as hashed certificate
// directories name files ("%08lx"; a CRL's file is HASH.r0).
std::string crl_issuer_hash(const std::string& crl_pem);

struct PemPaths {
  std::string cert, key;
};
// Writes DIR/NAME.pem (0644) and DIR/NAME.key (0600), each atomically.
PemPaths write_cert_and_key(const CertAndKey& ck, const std::string& dir, const std::string& name);

// The CA of folder `dir` (ca.pem and ca.key): read when both exist, else
// made (named `common_name`) and written there, creating the folder.
// `made`, when given, says which.
CertAndKey load_or_make_ca(const std::string& dir, const std::string& common_name = "cascade-ca",
                           bool* made = nullptr);

// Reads a whole file; throws Error naming `what` and the path when it cannot.
std::string read_file(const std::string& path, const std::string& what);

}  // namespace cascade
