// Fuzz target: the cluster manifest (cascade run/serve --cluster FILE).
//
// Input: the manifest's text, parsed as load_manifest parses a file (JSON,
// then parse_manifest, which validates it). File names resolve against a
// folder that does not exist, so the TLS files named are never there; an
// absolute name is skipped when it points into /dev, /proc or /sys (a
// fuzzer must not read from a device). A manifest that parses must survive
// manifest_to_json and parse back.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "net/manifest.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cascade;
  fuzz::quiet();
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* dev : {"/dev", "/proc", "/sys"})
    if (text.find(dev) != std::string::npos) return 0;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    const ClusterManifest m = parse_manifest(j, "/nonexistent-cascade-fuzz");
    (void)parse_manifest(manifest_to_json(m), "/");
  } catch (const Error&) {
  }
  try {
    if (j.is_object() && j.contains("plan")) (void)plan_spec_to_json(plan_spec_from_json(j["plan"]));
  } catch (const Error&) {
  }
  return 0;
}
