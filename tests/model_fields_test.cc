// CASCADE_MODEL_FIELDS is the one list of a model's hyper-parameters: the
// proto's ModelDims, the wire mapping, the synthesizer and the loaders are
// held to it here, field by field, so a field added to the list and missed
// in one of them fails a test that names it.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "model/loader.h"
#include "model/model_fields.h"
#include "model/synth.h"
#include "rpc/wire.h"
#include "tests/test_util.h"

namespace cascade {
namespace {

struct Field {
  std::string name;
  bool is_float;
  double value;
};

// Every field of `c`, in the list's order.
std::vector<Field> fields(const ModelConfig& c) {
  std::vector<Field> v;
#define CASCADE_MODEL_FIELD(type, name, def, doc) \
  v.push_back({#name, std::is_same_v<type, float>, static_cast<double>(c.name)});
  CASCADE_MODEL_FIELDS(CASCADE_MODEL_FIELD)
#undef CASCADE_MODEL_FIELD
  return v;
}

// Names of the fields of `c` that differ from their default.
std::set<std::string> non_default(const ModelConfig& c) {
  const auto defaults = fields(ModelConfig{});
  const auto got = fields(c);
  std::set<std::string> names;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].value != defaults[i].value) names.insert(got[i].name);
  return names;
}

void expect_same(const ModelConfig& want, const ModelConfig& got, const std::string& path) {
  const auto w = fields(want), g = fields(got);
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(w[i].value, g[i].value) << path << " does not carry field " << w[i].name;
}

std::set<std::string> all_names() {
  std::set<std::string> names;
  for (const auto& f : fields(ModelConfig{})) names.insert(f.name);
  return names;
}

TEST(ModelFields, ProtoHasEveryFieldByNameAndType) {
  const auto* d = wire::ModelDims::descriptor();
  const auto list = fields(ModelConfig{});
  EXPECT_EQ(d->field_count(), (int)list.size()) << "ModelDims and CASCADE_MODEL_FIELDS differ in length";
  for (const auto& f : list) {
    const auto* pf = d->FindFieldByName(f.name);
    ASSERT_NE(pf, nullptr) << "proto ModelDims lacks field " << f.name;
    EXPECT_EQ(pf->cpp_type(), f.is_float ? google::protobuf::FieldDescriptor::CPPTYPE_FLOAT
                                         : google::protobuf::FieldDescriptor::CPPTYPE_INT32)
        << "proto ModelDims field " << f.name << " has the wrong type";
  }
}

TEST(ModelFields, WireCarriesEveryField) {
  ModelConfig c;
  c.arch = Arch::kGPT2;
  c.dim = 96, c.hidden_dim = 200, c.n_layers = 3, c.n_heads = 6, c.n_kv_heads = 3, c.head_dim = 16;
  c.vocab_size = 777, c.context_length = 99, c.norm_eps = 3e-6f, c.rope_style = RopeStyle::kNeoX;
  c.rope_theta = 12345.0f, c.rope_scale_factor = 8.0f, c.rope_low_freq_factor = 1.5f;
  c.rope_high_freq_factor = 5.5f, c.rope_original_context = 4096;
  ASSERT_EQ(non_default(c), all_names()) << "set every field of the list to a value other than its default";

  wire::ModelDims d;
  to_wire(c, &d);
  wire::ModelDims parsed;
  ASSERT_TRUE(parsed.ParseFromString(d.SerializeAsString()));
  expect_same(c, from_wire(parsed), "the wire (to_wire/from_wire)");
}

TEST(ModelFields, SynthesizedGgufLoadsEveryField) {
  SynthSpec llama = synth_preset("tiny-llama");
  llama.dim = 96, llama.hidden_dim = 160, llama.n_layers = 3, llama.n_heads = 6, llama.n_kv_heads = 3;
  llama.context_length = 77, llama.norm_eps = 2e-6f, llama.rope_theta = 50000.0f;
  llama.rope_scale_factor = 8.0f, llama.rope_low_freq_factor = 1.5f, llama.rope_high_freq_factor = 5.5f;
  llama.rope_original_context = 64;
  SynthSpec gpt2 = synth_preset("tiny-gpt2");
  gpt2.norm_eps = 3e-5f;

  std::set<std::string> covered;
  for (const SynthSpec& s : {llama, gpt2}) {
    const std::string path = testing::temp_dir() + "/fields_" + std::to_string((int)s.arch) + ".gguf";
    synthesize_gguf(s, path);
    LoadedModel lm = load_model(path);
    const ModelConfig want = synth_config(s, (int)lm.vocab->tokens.size());
    expect_same(want, lm.model.cfg, "synthesize_gguf + load_gguf_model (arch " + std::to_string((int)s.arch) + ")");
    for (const auto& n : non_default(want)) covered.insert(n);
  }
  EXPECT_EQ(covered, all_names()) << "give every field a value other than its default in one of the specs";
}

TEST(ModelFields, Llama2cLoaderSetsTheHeaderFields) {
  const std::string path = testing::shared_path("models/stories260K/stories260K.bin");
  int32_t h[7];
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(h), sizeof h);
  // The header's fields; a llama2.c checkpoint has no others, so the rest
  // keep ModelConfig's defaults (which are llama2.c's).
  ModelConfig want;
  want.dim = h[0], want.hidden_dim = h[1], want.n_layers = h[2], want.n_heads = h[3], want.n_kv_heads = h[4];
  want.vocab_size = h[5] > 0 ? h[5] : -h[5], want.context_length = h[6], want.head_dim = h[0] / h[3];
  expect_same(want, load_model(path).model.cfg, "load_llama2c_model");
}

}  // namespace
}  // namespace cascade
