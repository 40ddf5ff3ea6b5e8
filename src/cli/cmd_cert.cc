// cascade cert: a private CA (made once per folder) and leaf certificates
// signed by it, for a test or small deployment (net/certs.h); with
// --revoke, the CA's revocation list DIR/crl.pem.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "net/certs.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace cascade::cli {

void add_cert(CLI::App& app) {
  struct Args {
    std::string dir = "certs";
    std::vector<std::string> names;
    std::vector<std::string> hosts;
    std::vector<std::string> revoke;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "cert", "make a CA (once) and certificates signed by it, for a test or small deployment");
  cmd->add_option("--dir", a->dir, "folder for ca.pem/ca.key and NAME.pem/NAME.key")->capture_default_str();
  cmd->add_option("names", a->names, "certificates to make, e.g. client comp0 attn0");
  cmd->add_option("--host", a->hosts, "extra subjectAltNames (IP or DNS) for every certificate made now");
  cmd->add_option("--revoke", a->revoke,
                  "add DIR/NAME.pem to the revocation list DIR/crl.pem (nodes: --crl, manifest: \"crl\")");
  cmd->callback([a] {
    if (a->names.empty() && a->revoke.empty())
      throw Error("cert: name the certificates to make (e.g. client comp0 attn0) or to --revoke");
    if (!a->revoke.empty() && !std::filesystem::exists(a->dir + "/ca.key"))
      throw Error("cert: no CA key " + a->dir + "/ca.key to sign the revocation list with; pass the --dir of the CA");
    bool made = false;
    const CertAndKey ca = load_or_make_ca(a->dir, "cascade-ca", &made);
    if (made) fprintf(stderr, "wrote %s/ca.pem and %s/ca.key (keep the key private)\n", a->dir.c_str(), a->dir.c_str());
    for (const std::string& name : a->names) {
      PemPaths p = write_cert_and_key(make_leaf(ca, name, a->hosts), a->dir, name);
      fprintf(stderr, "wrote %s and %s\n", p.cert.c_str(), p.key.c_str());
    }
    if (!a->revoke.empty()) {
      std::vector<std::string> pems;
      for (const std::string& name : a->revoke) pems.push_back(read_file(a->dir + "/" + name + ".pem", "certificate"));
      const std::string crl_path = a->dir + "/crl.pem";
      const std::string previous = std::filesystem::exists(crl_path) ? read_file(crl_path, "revocation list") : "";
      const std::string crl = make_crl(ca, pems, 30, previous);
      write_file_atomic(crl_path, crl, 0644);
      fprintf(stderr, "wrote %s (%d revoked; valid 30 days: reissue before then)\n", crl_path.c_str(),
              crl_entries(crl));
    }
  });
}

}  // namespace cascade::cli
