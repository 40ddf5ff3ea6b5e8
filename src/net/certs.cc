#include "net/certs.h"

#include "util/atomic_file.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "util/error.h"

namespace cascade {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;

CrlPtr parse_crl(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), (int)pem.size()));
  return CrlPtr(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
}

std::string openssl_error(const std::string& what) {
  char buf[256] = {0};
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return "certificate generation: " + what + (e ? std::string(": ") + buf : "");
}

void ossl_check(bool ok, const std::string& what) {
  if (!ok) throw Error(openssl_error(what));
}

PkeyPtr new_ec_key() {
  PkeyPtr k(EVP_EC_gen("P-256"));
  ossl_check(k != nullptr, "EC P-256 key generation failed");
  return k;
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, (size_t)n);
}

std::string key_pem(EVP_PKEY* k) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ossl_check(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1,
             "writing the key");
  return bio_string(bio.get());
}

std::string cert_pem(X509* c) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ossl_check(PEM_write_bio_X509(bio.get(), c) == 1, "writing the certificate");
  return bio_string(bio.get());
}

PkeyPtr parse_key(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), (int)pem.size()));
  PkeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ossl_check(k != nullptr, "the CA key is not a PEM private key");
  return k;
}

X509Ptr parse_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), (int)pem.size()));
  X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ossl_check(c != nullptr, "the CA certificate is not PEM");
  return c;
}

// A fresh certificate skeleton: v3, random 128-bit serial, validity, subject.
X509Ptr new_cert(EVP_PKEY* key, const std::string& cn, int valid_days, int starts_in_days = 0) {
  X509Ptr c(X509_new());
  ossl_check(c != nullptr, "X509_new");
  ossl_check(X509_set_version(c.get(), 2) == 1, "version");
  unsigned char serial[16];
  ossl_check(RAND_bytes(serial, sizeof serial) == 1, "random serial");
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  ossl_check(BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c.get())) != nullptr, "serial");
  // Back-date by an hour: tolerates small clock differences between hosts.
  X509_gmtime_adj(X509_getm_notBefore(c.get()), (long)starts_in_days * 86400 - 3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), ((long)starts_in_days + valid_days) * 86400);
  ossl_check(X509_set_pubkey(c.get(), key) == 1, "public key");
  X509_NAME* name = X509_get_subject_name(c.get());
  ossl_check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char*)"Cascade", -1, -1, 0) == 1 &&
                 X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char*)cn.c_str(), -1, -1, 0) == 1,
             "subject name");
  return c;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ossl_check(ext != nullptr, "extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  ossl_check(ok, "adding extension");
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

CertAndKey make_ca(const std::string& common_name, int valid_days) {
  PkeyPtr key = new_ec_key();
  X509Ptr c = new_cert(key.get(), common_name, valid_days);
  ossl_check(X509_set_issuer_name(c.get(), X509_get_subject_name(c.get())) == 1, "issuer");
  add_ext(c.get(), c.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_ext(c.get(), c.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(c.get(), c.get(), NID_subject_key_identifier, "hash");
  ossl_check(X509_sign(c.get(), key.get(), EVP_sha256()) > 0, "signing the CA");
  return {cert_pem(c.get()), key_pem(key.get())};
}

CertAndKey make_leaf(const CertAndKey& ca, const std::string& common_name,
                     const std::vector<std::string>& names, int valid_days, int starts_in_days) {
  PkeyPtr ca_key = parse_key(ca.key_pem);
  X509Ptr ca_cert = parse_cert(ca.cert_pem);
  PkeyPtr key = new_ec_key();
  X509Ptr c = new_cert(key.get(), common_name, valid_days, starts_in_days);
  ossl_check(X509_set_issuer_name(c.get(), X509_get_subject_name(ca_cert.get())) == 1, "issuer");

  std::vector<std::string> all = {"127.0.0.1", "localhost"};
  for (const auto& n : names)
    if (!n.empty() && std::find(all.begin(), all.end(), n) == all.end()) all.push_back(n);
  std::string san;
  for (const auto& n : all) san += (san.empty() ? "" : ",") + std::string(is_ip(n) ? "IP:" : "DNS:") + n;

  add_ext(c.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(c.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_ext(c.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_ext(c.get(), ca_cert.get(), NID_subject_alt_name, san);
  add_ext(c.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(c.get(), ca_cert.get(), NID_authority_key_identifier, "keyid");
  ossl_check(X509_sign(c.get(), ca_key.get(), EVP_sha256()) > 0, "signing the leaf");
  return {cert_pem(c.get()), key_pem(key.get())};
}

std::string make_crl(const CertAndKey& ca, const std::vector<std::string>& revoked, int valid_days,
                     const std::string& previous) {
  PkeyPtr ca_key = parse_key(ca.key_pem);
  X509Ptr ca_cert = parse_cert(ca.cert_pem);
  CrlPtr crl(X509_CRL_new());
  ossl_check(crl != nullptr && X509_CRL_set_version(crl.get(), 1) == 1, "CRL version");
  ossl_check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert.get())) == 1, "CRL issuer");
  TimePtr now(ASN1_TIME_adj(nullptr, time(nullptr), 0, -3600));
  TimePtr next(ASN1_TIME_adj(nullptr, time(nullptr), valid_days, 0));
  ossl_check(X509_CRL_set1_lastUpdate(crl.get(), now.get()) == 1 && X509_CRL_set1_nextUpdate(crl.get(), next.get()) == 1,
             "CRL dates");
  if (!previous.empty()) {
    CrlPtr old = parse_crl(previous);
    ossl_check(old != nullptr, "the previous revocation list is not PEM");
    STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(old.get());
    for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i)
      ossl_check(X509_CRL_add0_revoked(crl.get(), X509_REVOKED_dup(sk_X509_REVOKED_value(entries, i))) == 1,
                 "copying a revoked entry");
  }
  for (const std::string& pem : revoked) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), (int)pem.size()));
    X509Ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ossl_check(c != nullptr, "a certificate to revoke is not PEM");
    X509_REVOKED* r = X509_REVOKED_new();
    ossl_check(r != nullptr && X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(c.get())) == 1 &&
                   X509_REVOKED_set_revocationDate(r, now.get()) == 1,
               "revoked entry");
    ossl_check(X509_CRL_add0_revoked(crl.get(), r) == 1, "adding a revoked entry");
  }
  ossl_check(X509_CRL_sort(crl.get()) == 1 && X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) > 0, "signing the CRL");
  BioPtr out(BIO_new(BIO_s_mem()));
  ossl_check(PEM_write_bio_X509_CRL(out.get(), crl.get()) == 1, "writing the CRL");
  return bio_string(out.get());
}

void check_crl(const std::string& crl_pem, const std::string& ca_pem, const std::string& path) {
  CrlPtr crl = parse_crl(crl_pem);
  ERR_clear_error();
  check(crl != nullptr, "revocation list " + path + " is not a PEM X509 CRL (\"-----BEGIN X509 CRL-----\")");
  BioPtr bio(BIO_new_mem_buf(ca_pem.data(), (int)ca_pem.size()));
  X509Ptr ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  check(ca != nullptr, "revocation list " + path + ": the CA certificate is not PEM");
  const bool issued = X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) == 0 &&
                      X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())) == 1;
  ERR_clear_error();
  check(issued, "revocation list " + path + " is not signed by the cluster's CA; issue it with the CA's key");
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
  check(next == nullptr || X509_cmp_current_time(next) > 0,
        "revocation list " + path + " is past its next update (every peer would be refused); issue a new one");
}

int crl_entries(const std::string& crl_pem) {
  CrlPtr crl = parse_crl(crl_pem);
  check(crl != nullptr, "the revocation list is not PEM");
  return sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get()));
}

std::string crl_issuer_hash(const std::string& crl_pem) {
  CrlPtr crl = parse_crl(crl_pem);
  check(crl != nullptr, "the revocation list is not PEM");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", X509_NAME_hash_ex(X509_CRL_get_issuer(crl.get()), nullptr, nullptr, nullptr));
  return buf;
}

PemPaths write_cert_and_key(const CertAndKey& ck, const std::string& dir, const std::string& name) {
  PemPaths p{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  write_file_atomic(p.key, ck.key_pem, 0600);
  write_file_atomic(p.cert, ck.cert_pem, 0644);
  return p;
}

CertAndKey load_or_make_ca(const std::string& dir, const std::string& common_name, bool* made) {
  const std::string pem = dir + "/ca.pem", key = dir + "/ca.key";
  const bool exists = std::filesystem::exists(pem) && std::filesystem::exists(key);
  if (made) *made = !exists;
  if (exists) return {read_file(pem, "CA certificate"), read_file(key, "CA key")};
  std::filesystem::create_directories(dir);
  CertAndKey ca = make_ca(common_name);
  write_cert_and_key(ca, dir, "ca");
  return ca;
}

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  check(f.good(), "cannot read " + what + " " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace cascade
