// cascade cert: a private CA (made once per folder) and leaf certificates
// signed by it, for a test or small deployment (net/certs.h).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "net/certs.h"

namespace cascade::cli {

void add_cert(CLI::App& app) {
  struct Args {
    std::string dir = "certs";
    std::vector<std::string> names;
    std::vector<std::string> hosts;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "cert", "make a CA (once) and certificates signed by it, for a test or small deployment");
  cmd->add_option("--dir", a->dir, "folder for ca.pem/ca.key and NAME.pem/NAME.key")->capture_default_str();
  cmd->add_option("names", a->names, "certificates to make, e.g. client comp0 attn0")->required();
  cmd->add_option("--host", a->hosts, "extra subjectAltNames (IP or DNS) for every certificate made now");
  cmd->callback([a] {
    bool made = false;
    const CertAndKey ca = load_or_make_ca(a->dir, "cascade-ca", &made);
    if (made) fprintf(stderr, "wrote %s/ca.pem and %s/ca.key (keep the key private)\n", a->dir.c_str(), a->dir.c_str());
    for (const std::string& name : a->names) {
      PemPaths p = write_cert_and_key(make_leaf(ca, name, a->hosts), a->dir, name);
      fprintf(stderr, "wrote %s and %s\n", p.cert.c_str(), p.key.c_str());
    }
  });
}

}  // namespace cascade::cli
