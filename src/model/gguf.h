// GGUF (v2/v3) reader and writer.
//
// Format (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, then
// n_kv typed key/value pairs, n_tensors tensor infos (name, u32 n_dims,
// u64 ne[n_dims], u32 ggml type, u64 offset), padding to general.alignment
// (default 32), and the tensor data section. ne[0] is the innermost
// (contiguous) dimension.
//
// GgufFile::open validates everything it parses against the file size before
// allocating or reading, so a corrupt or hostile file yields one cascade::Error
// line naming the file and the problem, never a crash or an out-of-bounds read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cascade {

class MappedFile;

// GGUF metadata value types (gguf.md); numbering is fixed by the format.
enum class GgufValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6,
  kBool = 7, kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// The ggml tensor types Cascade loads; numbering is fixed by ggml. The block
// formats are described in quants.h.
enum class GgmlType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kBF16 = 30,
};

// Name of a ggml type number, including ones Cascade cannot load ("IQ4_XS").
std::string ggml_type_name(uint32_t type);

// Whether Cascade loads ggml type number `type`.
bool ggml_type_supported(uint32_t type);

// The supported type called `name` ("q4_k", "Q4_K", "f32"...), if any.
std::optional<GgmlType> ggml_type_from_name(const std::string& name);

// Values per block: 1 for F32/F16/BF16, 32 for Q4_0..Q8_0, 256 for K-quants.
// A tensor's row length (ne[0]) must be a multiple of it.
int ggml_block_size(GgmlType type);

// Q8_0: blocks of 32 values, each an fp16 scale d followed by 32 int8 q;
// value = d * q.
constexpr int kQ8_0Block = 32;
constexpr int kQ8_0BlockBytes = 2 + 32;

// Bytes that `n` elements of `type` occupy; n must be a whole number of
// blocks for block types.
uint64_t ggml_nbytes(GgmlType type, uint64_t n);

// Converts n elements of `type` at src to fp32.
void dequantize(GgmlType type, const void* src, uint64_t n, float* dst);
// Converts n fp32 values to `type` (n a whole number of blocks); see
// quants.h for how each block type is encoded.
void quantize(GgmlType type, const float* src, uint64_t n, void* dst);

// One metadata value. Scalars live in the matching field (all integers in
// `i`/`u`, both float widths in `f`); arrays keep their element type and
// their elements as nested values, except string and number arrays, which
// are flattened into `strs` / `nums` for speed (vocabularies are 100k+ long).
struct GgufValue {
  GgufValueType type = GgufValueType::kU32;
  GgufValueType elem_type = GgufValueType::kU32;  // arrays only
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string s;
  std::vector<std::string> strs;  // array of strings
  std::vector<double> nums;       // array of numbers or bools (exact for <= 32-bit ints)
  std::vector<GgufValue> items;   // array of arrays
  uint64_t count = 0;             // array length

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue i32_array(const std::vector<int32_t>& v);
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  int n_dims = 0;
  uint64_t ne[4] = {1, 1, 1, 1};  // ne[0] innermost; unused dims are 1
  uint64_t offset = 0;            // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapped file

  std::string shape_string() const;  // "[64, 512]" in ne order
};

class GgufFile {
 public:
  // Maps and parses `path`. Throws Error on any malformed input.
  static GgufFile open(const std::string& path);
  // Parses an already opened file (MappedFile::open or from_bytes); errors
  // name file->path().
  static GgufFile parse(std::shared_ptr<MappedFile> file);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::shared_ptr<MappedFile>& file() const { return file_; }

  // Keys in file order.
  const std::vector<std::string>& keys() const { return key_order_; }
  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const GgufValue* find(const std::string& key) const;

  // Required getters throw Error naming the file and key when the key is
  // missing or its type does not fit (integers convert when in range).
  uint32_t get_u32(const std::string& key) const;
  int32_t get_i32(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<float> get_f32_array(const std::string& key) const;
  std::vector<int32_t> get_i32_array(const std::string& key) const;

  // Defaulted getters: the default when the key is absent; a present key of
  // the wrong type still throws.
  uint32_t get_u32(const std::string& key, uint32_t def) const;
  int32_t get_i32(const std::string& key, int32_t def) const;
  float get_f32(const std::string& key, float def) const;
  bool get_bool(const std::string& key, bool def) const;
  std::string get_string(const std::string& key, const std::string& def) const;

  // Optional getters: nullopt when absent.
  std::optional<uint32_t> opt_u32(const std::string& key) const;
  std::optional<float> opt_f32(const std::string& key) const;
  std::optional<std::string> opt_string(const std::string& key) const;

  // Tensors in file order; find_tensor returns null when absent.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<std::string> key_order_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;

  friend class GgufParser;
};

// Builds a GGUF v3 file. Tensor data is produced at write() time, in chunks,
// so a multi-gigabyte model never has to sit in memory.
class GgufWriter {
 public:
  // Fills out[0..count) with the fp32 values of elements [begin, begin+count)
  // of the tensor (flat, ne[0] fastest).
  using Source = std::function<void(uint64_t begin, uint64_t count, float* out)>;
  // Called after each chunk with bytes of tensor data written / total.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;

  // Metadata, written in insertion order; setting a key again replaces it.
  void set(const std::string& key, GgufValue v);
  void set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, GgufValue::i32(v)); }
  void set_f32(const std::string& key, float v) { set(key, GgufValue::f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, GgufValue::boolean(v)); }
  void set_string(const std::string& key, std::string v) { set(key, GgufValue::string(std::move(v))); }
  void set_string_array(const std::string& key, std::vector<std::string> v) {
    set(key, GgufValue::string_array(std::move(v)));
  }
  void set_f32_array(const std::string& key, const std::vector<float>& v) { set(key, GgufValue::f32_array(v)); }
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v) { set(key, GgufValue::i32_array(v)); }

  // `ne` in GGUF order (ne[0] innermost), 1..4 dims. The fp32 data is
  // converted to `type` when written. Throws Error on a duplicate name, a bad
  // shape, or a block-type tensor whose ne[0] is not a multiple of its block.
  void add_tensor(const std::string& name, std::vector<uint64_t> ne, std::vector<float> data,
                  GgmlType type = GgmlType::kF32);
  void add_tensor(const std::string& name, std::vector<uint64_t> ne, GgmlType type, Source source);
  // Bytes already in `type`'s encoding, written verbatim.
  void add_tensor_raw(const std::string& name, std::vector<uint64_t> ne, GgmlType type,
                      std::vector<uint8_t> bytes);

  // Writes path + ".tmp" and renames it to `path`; on any failure the tmp
  // file is removed and Error thrown, so no partial file is ever left.
  void write(const std::string& path, const Progress& progress = nullptr) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    GgmlType type;
    Source source;               // when set: fp32 values to convert
    std::vector<uint8_t> raw;    // otherwise: encoded bytes
    uint64_t n_elements = 0;
    uint64_t n_bytes = 0;
  };
  void check_new_tensor(const std::string& name, const std::vector<uint64_t>& ne, GgmlType type,
                        uint64_t* n_elements) const;
  void write_to(const std::string& tmp, const Progress& progress) const;

  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace cascade
