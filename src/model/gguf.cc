#include "model/gguf.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "model/half.h"
#include "model/quants.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace cascade {

namespace {

// Header counts above this are not a real model; refusing them early keeps a
// corrupt header from driving huge allocations or long loops.
constexpr uint64_t kMaxCount = uint64_t{1} << 24;
// Arrays of arrays nest; bound the recursion a hostile file can ask for.
constexpr int kMaxNesting = 8;
constexpr uint64_t kDefaultAlignment = 32;

struct TypeInfo {
  GgmlType type;
  const char* name;  // lower case, as `cascade synth --type` takes it
  int block;         // values per block
  int bytes;         // bytes per block
};

constexpr TypeInfo kTypes[] = {
    {GgmlType::kF32, "f32", 1, 4},        {GgmlType::kF16, "f16", 1, 2},
    {GgmlType::kBF16, "bf16", 1, 2},      {GgmlType::kQ4_0, "q4_0", 32, 18},
    {GgmlType::kQ4_1, "q4_1", 32, 20},    {GgmlType::kQ5_0, "q5_0", 32, 22},
    {GgmlType::kQ5_1, "q5_1", 32, 24},    {GgmlType::kQ8_0, "q8_0", 32, 34},
    {GgmlType::kQ2_K, "q2_k", 256, 84},   {GgmlType::kQ3_K, "q3_k", 256, 110},
    {GgmlType::kQ4_K, "q4_k", 256, 144},  {GgmlType::kQ5_K, "q5_k", 256, 176},
    {GgmlType::kQ6_K, "q6_k", 256, 210},
};

const TypeInfo* type_info(uint32_t t) {
  for (const TypeInfo& i : kTypes)
    if (static_cast<uint32_t>(i.type) == t) return &i;
  return nullptr;
}

const TypeInfo& info(GgmlType t) {
  const TypeInfo* i = type_info(static_cast<uint32_t>(t));
  if (!i) throw Error("ggml type " + std::to_string(static_cast<uint32_t>(t)) + " is not supported");
  return *i;
}

bool is_supported_type(uint32_t t) { return type_info(t) != nullptr; }

// Size in bytes of a fixed-size value type; 0 for string/array/unknown.
uint64_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kBool: return 1;
    case GgufValueType::kU16: case GgufValueType::kI16: return 2;
    case GgufValueType::kU32: case GgufValueType::kI32: case GgufValueType::kF32: return 4;
    case GgufValueType::kU64: case GgufValueType::kI64: case GgufValueType::kF64: return 8;
    default: return 0;
  }
}

bool is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kU16:
    case GgufValueType::kI16: case GgufValueType::kU32: case GgufValueType::kI32:
    case GgufValueType::kU64: case GgufValueType::kI64: return true;
    default: return false;
  }
}

bool is_unsigned(GgufValueType t) {
  return t == GgufValueType::kU8 || t == GgufValueType::kU16 || t == GgufValueType::kU32 ||
         t == GgufValueType::kU64;
}

const char* value_type_name(GgufValueType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // GGUF is little-endian, as are our hosts
  return v;
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  static const char* names[] = {
      "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
      "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
      "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64",
      "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0"};
  if (type < sizeof(names) / sizeof(names[0])) return names[type];
  return "type " + std::to_string(type);
}

bool ggml_type_supported(uint32_t type) { return is_supported_type(type); }

std::optional<GgmlType> ggml_type_from_name(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const TypeInfo& i : kTypes)
    if (lower == i.name) return i.type;
  return std::nullopt;
}

int ggml_block_size(GgmlType type) { return info(type).block; }

uint64_t ggml_nbytes(GgmlType type, uint64_t n) {
  const TypeInfo& i = info(type);
  return n / i.block * i.bytes;
}

void dequantize(GgmlType type, const void* src_v, uint64_t n, float* dst) {
  const auto* src = static_cast<const uint8_t*>(src_v);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, n * 4);
      return;
    case GgmlType::kF16:
      for (uint64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load<uint16_t>(src + 2 * i));
      return;
    case GgmlType::kBF16:
      for (uint64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load<uint16_t>(src + 2 * i));
      return;
    case GgmlType::kQ4_0: return quants::dequantize_q4_0(src, n / 32, dst);
    case GgmlType::kQ4_1: return quants::dequantize_q4_1(src, n / 32, dst);
    case GgmlType::kQ5_0: return quants::dequantize_q5_0(src, n / 32, dst);
    case GgmlType::kQ5_1: return quants::dequantize_q5_1(src, n / 32, dst);
    case GgmlType::kQ8_0: return quants::dequantize_q8_0(src, n / 32, dst);
    case GgmlType::kQ2_K: return quants::dequantize_q2_k(src, n / 256, dst);
    case GgmlType::kQ3_K: return quants::dequantize_q3_k(src, n / 256, dst);
    case GgmlType::kQ4_K: return quants::dequantize_q4_k(src, n / 256, dst);
    case GgmlType::kQ5_K: return quants::dequantize_q5_k(src, n / 256, dst);
    case GgmlType::kQ6_K: return quants::dequantize_q6_k(src, n / 256, dst);
  }
}

void quantize(GgmlType type, const float* src, uint64_t n, void* dst_v) {
  auto* dst = static_cast<uint8_t*>(dst_v);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, n * 4);
      return;
    case GgmlType::kF16:
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case GgmlType::kBF16:
      for (uint64_t i = 0; i < n; ++i) {
        uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case GgmlType::kQ4_0: return quants::quantize_q4_0(src, n / 32, dst);
    case GgmlType::kQ4_1: return quants::quantize_q4_1(src, n / 32, dst);
    case GgmlType::kQ5_0: return quants::quantize_q5_0(src, n / 32, dst);
    case GgmlType::kQ5_1: return quants::quantize_q5_1(src, n / 32, dst);
    case GgmlType::kQ8_0: return quants::quantize_q8_0(src, n / 32, dst);
    case GgmlType::kQ2_K: return quants::quantize_q2_k(src, n / 256, dst);
    case GgmlType::kQ3_K: return quants::quantize_q3_k(src, n / 256, dst);
    case GgmlType::kQ4_K: return quants::quantize_q4_k(src, n / 256, dst);
    case GgmlType::kQ5_K: return quants::quantize_q5_k(src, n / 256, dst);
    case GgmlType::kQ6_K: return quants::quantize_q6_k(src, n / 256, dst);
  }
}

// ---- GgufValue constructors ------------------------------------------------

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue g;
  g.type = GgufValueType::kU32;
  g.u = v;
  return g;
}
GgufValue GgufValue::i32(int32_t v) {
  GgufValue g;
  g.type = GgufValueType::kI32;
  g.i = v;
  return g;
}
GgufValue GgufValue::f32(float v) {
  GgufValue g;
  g.type = GgufValueType::kF32;
  g.f = v;
  return g;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue g;
  g.type = GgufValueType::kBool;
  g.b = v;
  return g;
}
GgufValue GgufValue::string(std::string v) {
  GgufValue g;
  g.type = GgufValueType::kString;
  g.s = std::move(v);
  return g;
}
GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.elem_type = GgufValueType::kString;
  g.count = v.size();
  g.strs = std::move(v);
  return g;
}
GgufValue GgufValue::f32_array(const std::vector<float>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.elem_type = GgufValueType::kF32;
  g.count = v.size();
  g.nums.assign(v.begin(), v.end());
  return g;
}
GgufValue GgufValue::i32_array(const std::vector<int32_t>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.elem_type = GgufValueType::kI32;
  g.count = v.size();
  g.nums.assign(v.begin(), v.end());
  return g;
}

std::string GgufTensor::shape_string() const {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

// ---- Parser ----------------------------------------------------------------

class GgufParser {
 public:
  GgufParser(GgufFile& out) : f_(out), p_(out.file_->data()), size_(out.file_->size()) {}

  void parse() {
    if (size_ == 0) fail("is empty (0 bytes); it is not a GGUF model, re-download or re-convert it");
    need(4, "the magic number");
    if (std::memcmp(p_, "GGUF", 4) != 0)
      fail("has bad magic (not a GGUF file: expected \"GGUF\" at offset 0); pass a .gguf model");
    pos_ = 4;
    f_.version_ = u32("the version");
    if (f_.version_ != 2 && f_.version_ != 3)
      fail("has unsupported GGUF version " + std::to_string(f_.version_) +
           " (supported: 2, 3); re-convert it with a current llama.cpp");
    uint64_t n_tensors = u64("the tensor count");
    uint64_t n_kv = u64("the metadata count");
    if (n_tensors > kMaxCount)
      fail("claims an absurd n_tensors = " + std::to_string(n_tensors) + "; the header is corrupt");
    if (n_kv > kMaxCount)
      fail("claims an absurd n_kv = " + std::to_string(n_kv) + "; the header is corrupt");

    for (uint64_t k = 0; k < n_kv; ++k) {
      std::string key = str("a metadata key");
      if (f_.kv_.count(key)) fail("has duplicate metadata key '" + key + "'; the file is corrupt");
      auto type = static_cast<GgufValueType>(u32("the type of key '" + key + "'"));
      GgufValue v = value(type, key, 0);
      f_.key_order_.push_back(key);
      f_.kv_.emplace(key, std::move(v));
    }

    if (auto it = f_.kv_.find("general.alignment"); it != f_.kv_.end()) {
      const GgufValue& a = it->second;
      if (!is_integer(a.type) || a.u == 0 || a.u > (1u << 20) || (a.u & (a.u - 1)) != 0)
        fail("has an invalid general.alignment (must be a power of two); the file is corrupt");
      f_.alignment_ = a.u;
    }

    f_.tensors_.reserve(n_tensors);  // bounded by kMaxCount above
    for (uint64_t t = 0; t < n_tensors; ++t) f_.tensors_.push_back(tensor_info());

    uint64_t data_start = (pos_ + f_.alignment_ - 1) / f_.alignment_ * f_.alignment_;
    for (size_t t = 0; t < f_.tensors_.size(); ++t) {
      GgufTensor& ti = f_.tensors_[t];
      if (!f_.tensor_index_.emplace(ti.name, t).second)
        fail("has duplicate tensor '" + ti.name + "'; the file is corrupt");
      bool fits = data_start <= size_ && ti.offset <= size_ - data_start &&
                  ti.n_bytes <= size_ - data_start - ti.offset;
      if (!fits)
        fail("tensor '" + ti.name + "' data (" + std::to_string(ti.n_bytes) + " bytes at offset " +
             std::to_string(ti.offset) + " of the data section at " + std::to_string(data_start) +
             ") runs past the end of the file (" + std::to_string(size_) +
             " bytes); the file is truncated, re-download it");
      ti.data = p_ + data_start + ti.offset;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error("GGUF file '" + f_.path_ + "' " + msg);
  }

  void need(uint64_t n, const std::string& what) const {
    if (n > size_ - pos_)
      fail("is truncated: " + what + " at offset " + std::to_string(pos_) + " needs " +
           std::to_string(n) + " bytes but the file has " + std::to_string(size_) +
           "; re-download or re-convert it");
  }

  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v = load<T>(p_ + pos_);
    pos_ += sizeof(T);
    return v;
  }
  uint32_t u32(const std::string& what) { return read<uint32_t>(what); }
  uint64_t u64(const std::string& what) { return read<uint64_t>(what); }

  std::string str(const std::string& what) {
    uint64_t n = u64("the length of " + what);
    if (n > size_)
      fail("has an absurd string length " + std::to_string(n) + " for " + what + " (the file has " +
           std::to_string(size_) + " bytes); it is truncated or corrupt, re-download or re-convert it");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }

  GgufValue value(GgufValueType type, const std::string& key, int depth) {
    GgufValue v;
    v.type = type;
    std::string what = "the value of '" + key + "'";
    switch (type) {
      case GgufValueType::kU8: v.u = read<uint8_t>(what); break;
      case GgufValueType::kI8: v.i = read<int8_t>(what); break;
      case GgufValueType::kU16: v.u = read<uint16_t>(what); break;
      case GgufValueType::kI16: v.i = read<int16_t>(what); break;
      case GgufValueType::kU32: v.u = read<uint32_t>(what); break;
      case GgufValueType::kI32: v.i = read<int32_t>(what); break;
      case GgufValueType::kU64: v.u = read<uint64_t>(what); break;
      case GgufValueType::kI64: v.i = read<int64_t>(what); break;
      case GgufValueType::kF32: v.f = read<float>(what); break;
      case GgufValueType::kF64: v.f = read<double>(what); break;
      case GgufValueType::kBool: {
        uint8_t b = read<uint8_t>(what);
        if (b > 1) fail("has an invalid bool value for '" + key + "'; the file is corrupt");
        v.b = b != 0;
        break;
      }
      case GgufValueType::kString: v.s = str(what); break;
      case GgufValueType::kArray: array(v, key, depth); break;
      default:
        fail("has unknown metadata value type " + std::to_string(static_cast<uint32_t>(type)) +
             " for key '" + key + "'; the file is corrupt or from a newer GGUF version");
    }
    if (is_unsigned(type)) v.i = static_cast<int64_t>(v.u);
    else if (is_integer(type)) v.u = static_cast<uint64_t>(v.i);
    return v;
  }

  void array(GgufValue& v, const std::string& key, int depth) {
    if (depth >= kMaxNesting) fail("nests arrays too deeply at key '" + key + "'; the file is corrupt");
    v.elem_type = static_cast<GgufValueType>(u32("the element type of '" + key + "'"));
    uint64_t n = u64("the array length of '" + key + "'");
    // Smallest encoding of one element: the check below bounds n by the
    // bytes left, before anything is allocated.
    uint64_t min_elem = scalar_size(v.elem_type);
    if (v.elem_type == GgufValueType::kString) min_elem = 8;
    if (v.elem_type == GgufValueType::kArray) min_elem = 12;
    if (min_elem == 0)
      fail("has unknown array element type " + std::to_string(static_cast<uint32_t>(v.elem_type)) +
           " for key '" + key + "'; the file is corrupt");
    if (n > size_ / min_elem)
      fail("has an absurd array length " + std::to_string(n) + " for key '" + key + "' (the file has " +
           std::to_string(size_) + " bytes); it is truncated or corrupt, re-download or re-convert it");
    need(n * min_elem, "the array '" + key + "'");
    v.count = n;
    if (v.elem_type == GgufValueType::kString) {
      v.strs.reserve(n);
      std::string what = "an element of '" + key + "'";
      for (uint64_t i = 0; i < n; ++i) v.strs.push_back(str(what));
    } else if (v.elem_type == GgufValueType::kArray) {
      v.items.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        auto t = static_cast<GgufValueType>(GgufValueType::kArray);
        v.items.push_back(value(t, key, depth + 1));
      }
    } else {
      // need() above covered all n fixed-size elements: read them directly.
      v.nums.resize(n);
      uint64_t sz = scalar_size(v.elem_type);
      const uint8_t* q = p_ + pos_;
      for (uint64_t i = 0; i < n; ++i, q += sz) v.nums[i] = number(v.elem_type, q);
      if (v.elem_type == GgufValueType::kBool)
        for (double x : v.nums)
          if (x > 1.0) fail("has an invalid bool value in array '" + key + "'; the file is corrupt");
      pos_ += n * sz;
    }
  }

  static double number(GgufValueType t, const uint8_t* q) {
    switch (t) {
      case GgufValueType::kU8: case GgufValueType::kBool: return load<uint8_t>(q);
      case GgufValueType::kI8: return load<int8_t>(q);
      case GgufValueType::kU16: return load<uint16_t>(q);
      case GgufValueType::kI16: return load<int16_t>(q);
      case GgufValueType::kU32: return load<uint32_t>(q);
      case GgufValueType::kI32: return load<int32_t>(q);
      case GgufValueType::kU64: return static_cast<double>(load<uint64_t>(q));
      case GgufValueType::kI64: return static_cast<double>(load<int64_t>(q));
      case GgufValueType::kF32: return load<float>(q);
      case GgufValueType::kF64: return load<double>(q);
      default: return 0.0;
    }
  }

  GgufTensor tensor_info() {
    GgufTensor t;
    t.name = str("a tensor name");
    std::string of = " of tensor '" + t.name + "'";
    uint32_t n_dims = u32("n_dims" + of);
    if (n_dims < 1 || n_dims > 4)
      fail("has n_dims = " + std::to_string(n_dims) + of + " (must be 1..4); the file is corrupt");
    t.n_dims = static_cast<int>(n_dims);
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      t.ne[d] = u64("the dimensions" + of);
      if (__builtin_mul_overflow(n, t.ne[d], &n) || n > (uint64_t{1} << 60))
        fail("has dimensions" + of + " whose product overflows (absurd size); the file is corrupt");
    }
    uint32_t type = u32("the type" + of);
    if (!is_supported_type(type)) {
      if (type < 40)
        fail("tensor '" + t.name + "' has type " + ggml_type_name(type) + " (" + std::to_string(type) +
             "), which Cascade cannot load; use a model converted to F32, F16, BF16, Q4_0, Q4_1, Q5_0, "
             "Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K");
      fail("has unknown tensor type " + std::to_string(type) + of + "; the file is corrupt");
    }
    t.type = static_cast<GgmlType>(type);
    if (const int block = info(t.type).block; t.ne[0] % block != 0)
      fail("tensor '" + t.name + "' is " + ggml_type_name(type) + " but its row length " +
           std::to_string(t.ne[0]) + " is not a multiple of " + std::to_string(block) + "; the file is corrupt");
    t.offset = u64("the data offset" + of);
    if (t.offset % f_.alignment_ != 0)
      fail("tensor '" + t.name + "' data offset " + std::to_string(t.offset) +
           " is not aligned to " + std::to_string(f_.alignment_) + "; the file is corrupt");
    t.n_elements = n;
    t.n_bytes = ggml_nbytes(t.type, n);
    return t;
  }

  GgufFile& f_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// ---- GgufFile --------------------------------------------------------------

GgufFile GgufFile::open(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error("GGUF file '" + path + "' is a directory; pass the path of a .gguf file");
  return parse(MappedFile::open(path));
}

GgufFile GgufFile::parse(std::shared_ptr<MappedFile> file) {
  GgufFile f;
  f.path_ = file->path();
  f.file_ = std::move(file);
  GgufParser(f).parse();
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

[[noreturn]] void bad_key(const std::string& path, const std::string& key, const std::string& why) {
  throw Error("GGUF file '" + path + "' metadata key '" + key + "' " + why +
              "; the file is not a supported model or is corrupt");
}

const GgufValue& require(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) bad_key(f.path(), key, "is missing");
  return *v;
}

template <typename T>
T as_int(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (!is_integer(v.type))
    bad_key(f.path(), key, std::string("has type ") + value_type_name(v.type) + ", expected an integer");
  bool neg = !is_unsigned(v.type) && v.i < 0;
  bool fits = neg ? (std::numeric_limits<T>::is_signed && v.i >= std::numeric_limits<T>::min())
                  : v.u <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (!fits) bad_key(f.path(), key, "is out of range");
  return neg ? static_cast<T>(v.i) : static_cast<T>(v.u);
}

float as_f32(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (v.type != GgufValueType::kF32 && v.type != GgufValueType::kF64)
    bad_key(f.path(), key, std::string("has type ") + value_type_name(v.type) + ", expected a float");
  return static_cast<float>(v.f);
}

const GgufValue& require_array(const GgufFile& f, const std::string& key, bool numeric) {
  const GgufValue& v = require(f, key);
  bool ok = v.type == GgufValueType::kArray &&
            (numeric ? scalar_size(v.elem_type) != 0 : v.elem_type == GgufValueType::kString);
  if (!ok) bad_key(f.path(), key, numeric ? "is not a numeric array" : "is not a string array");
  return v;
}

}  // namespace

uint32_t GgufFile::get_u32(const std::string& key) const { return as_int<uint32_t>(*this, key, require(*this, key)); }
int32_t GgufFile::get_i32(const std::string& key) const { return as_int<int32_t>(*this, key, require(*this, key)); }
float GgufFile::get_f32(const std::string& key) const { return as_f32(*this, key, require(*this, key)); }

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufValueType::kBool)
    bad_key(path_, key, std::string("has type ") + value_type_name(v.type) + ", expected bool");
  return v.b;
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufValueType::kString)
    bad_key(path_, key, std::string("has type ") + value_type_name(v.type) + ", expected string");
  return v.s;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  return require_array(*this, key, false).strs;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = require_array(*this, key, true);
  return std::vector<float>(v.nums.begin(), v.nums.end());
}

std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
  const GgufValue& v = require_array(*this, key, true);
  if (!is_integer(v.elem_type)) bad_key(path_, key, "is not an integer array");
  std::vector<int32_t> out(v.nums.size());
  for (size_t i = 0; i < out.size(); ++i) {
    double x = v.nums[i];
    if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max())
      bad_key(path_, key, "has an element out of int32 range");
    out[i] = static_cast<int32_t>(x);
  }
  return out;
}

uint32_t GgufFile::get_u32(const std::string& key, uint32_t def) const { return has(key) ? get_u32(key) : def; }
int32_t GgufFile::get_i32(const std::string& key, int32_t def) const { return has(key) ? get_i32(key) : def; }
float GgufFile::get_f32(const std::string& key, float def) const { return has(key) ? get_f32(key) : def; }
bool GgufFile::get_bool(const std::string& key, bool def) const { return has(key) ? get_bool(key) : def; }
std::string GgufFile::get_string(const std::string& key, const std::string& def) const {
  return has(key) ? get_string(key) : def;
}

std::optional<uint32_t> GgufFile::opt_u32(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_u32(key);
}
std::optional<float> GgufFile::opt_f32(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_f32(key);
}
std::optional<std::string> GgufFile::opt_string(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_string(key);
}

// ---- Writer ----------------------------------------------------------------

void GgufWriter::set(const std::string& key, GgufValue v) {
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  kv_.emplace_back(key, std::move(v));
}

void GgufWriter::check_new_tensor(const std::string& name, const std::vector<uint64_t>& ne, GgmlType type,
                                  uint64_t* n_elements) const {
  for (const auto& t : tensors_)
    if (t.name == name) throw Error("GgufWriter: duplicate tensor '" + name + "'");
  if (ne.empty() || ne.size() > 4)
    throw Error("GgufWriter: tensor '" + name + "' must have 1..4 dimensions");
  uint64_t n = 1;
  for (uint64_t d : ne)
    if (__builtin_mul_overflow(n, d, &n)) throw Error("GgufWriter: tensor '" + name + "' is too large");
  const int block = info(type).block;
  if (ne[0] % block != 0)
    throw Error("GgufWriter: " + ggml_type_name(static_cast<uint32_t>(type)) + " tensor '" + name +
                "' needs a row length that is a multiple of " + std::to_string(block) + ", got " +
                std::to_string(ne[0]));
  *n_elements = n;
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> ne, std::vector<float> data,
                            GgmlType type) {
  uint64_t n = 0;
  check_new_tensor(name, ne, type, &n);
  if (data.size() != n)
    throw Error("GgufWriter: tensor '" + name + "' has " + std::to_string(data.size()) +
                " values for a shape of " + std::to_string(n));
  auto shared = std::make_shared<std::vector<float>>(std::move(data));
  add_tensor(name, std::move(ne), type, [shared](uint64_t begin, uint64_t count, float* out) {
    std::memcpy(out, shared->data() + begin, count * sizeof(float));
  });
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> ne, GgmlType type, Source source) {
  Tensor t;
  check_new_tensor(name, ne, type, &t.n_elements);
  t.name = name;
  t.ne = std::move(ne);
  t.type = type;
  t.source = std::move(source);
  t.n_bytes = ggml_nbytes(type, t.n_elements);
  tensors_.push_back(std::move(t));
}

void GgufWriter::add_tensor_raw(const std::string& name, std::vector<uint64_t> ne, GgmlType type,
                                std::vector<uint8_t> bytes) {
  Tensor t;
  check_new_tensor(name, ne, type, &t.n_elements);
  t.n_bytes = ggml_nbytes(type, t.n_elements);
  if (bytes.size() != t.n_bytes)
    throw Error("GgufWriter: raw tensor '" + name + "' has " + std::to_string(bytes.size()) +
                " bytes, its shape and type need " + std::to_string(t.n_bytes));
  t.name = name;
  t.ne = std::move(ne);
  t.type = type;
  t.raw = std::move(bytes);
  tensors_.push_back(std::move(t));
}

namespace {

// Buffered little-endian output that turns any stdio failure into Error.
class Out {
 public:
  Out(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) throw Error("cannot create '" + path + "': " + std::strerror(errno));
  }
  ~Out() {
    if (f_) std::fclose(f_);
  }
  void bytes(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n)
      throw Error("writing '" + path_ + "' failed: " + std::strerror(errno));
    pos_ += n;
  }
  template <typename T>
  void put(T v) { bytes(&v, sizeof v); }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t align) {
    static const uint8_t zeros[64] = {};
    while (pos_ % align) bytes(zeros, std::min<uint64_t>(64, align - pos_ % align));
  }
  void close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) throw Error("writing '" + path_ + "' failed: " + std::strerror(errno));
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_;
  FILE* f_;
  uint64_t pos_ = 0;
};

void put_scalar(Out& o, GgufValueType t, const GgufValue& v, double num, bool use_num) {
  // A double converts only when in range (a negative one never to unsigned):
  // clamp, then go through int64 so that -1 becomes the u64 of its bits.
  const double clamped = std::clamp(num, -9.2e18, 9.2e18);
  int64_t i = use_num ? static_cast<int64_t>(clamped) : (is_unsigned(t) ? static_cast<int64_t>(v.u) : v.i);
  uint64_t u = use_num ? (num >= 9.2e18 ? static_cast<uint64_t>(std::min(num, 1.8e19)) : static_cast<uint64_t>(i))
                       : (is_unsigned(t) ? v.u : static_cast<uint64_t>(v.i));
  double f = use_num ? num : v.f;
  switch (t) {
    case GgufValueType::kU8: o.put<uint8_t>(static_cast<uint8_t>(u)); break;
    case GgufValueType::kI8: o.put<int8_t>(static_cast<int8_t>(i)); break;
    case GgufValueType::kU16: o.put<uint16_t>(static_cast<uint16_t>(u)); break;
    case GgufValueType::kI16: o.put<int16_t>(static_cast<int16_t>(i)); break;
    case GgufValueType::kU32: o.put<uint32_t>(static_cast<uint32_t>(u)); break;
    case GgufValueType::kI32: o.put<int32_t>(static_cast<int32_t>(i)); break;
    case GgufValueType::kU64: o.put<uint64_t>(u); break;
    case GgufValueType::kI64: o.put<int64_t>(i); break;
    case GgufValueType::kF32: o.put<float>(static_cast<float>(f)); break;
    case GgufValueType::kF64: o.put<double>(f); break;
    case GgufValueType::kBool: o.put<uint8_t>(use_num ? num != 0.0 : v.b); break;
    default: throw Error("GgufWriter: bad scalar type");
  }
}

void put_value(Out& o, const GgufValue& v) {
  if (v.type == GgufValueType::kString) return o.str(v.s);
  if (v.type != GgufValueType::kArray) return put_scalar(o, v.type, v, 0.0, false);
  o.put<uint32_t>(static_cast<uint32_t>(v.elem_type));
  if (v.elem_type == GgufValueType::kString) {
    o.put<uint64_t>(v.strs.size());
    for (const auto& s : v.strs) o.str(s);
  } else if (v.elem_type == GgufValueType::kArray) {
    o.put<uint64_t>(v.items.size());
    for (const auto& item : v.items) put_value(o, item);
  } else {
    o.put<uint64_t>(v.nums.size());
    for (double x : v.nums) put_scalar(o, v.elem_type, v, x, true);
  }
}

}  // namespace

void GgufWriter::write_to(const std::string& tmp, const Progress& progress) const {
  Out o(tmp);
  o.bytes("GGUF", 4);
  o.put<uint32_t>(3);
  o.put<uint64_t>(tensors_.size());
  o.put<uint64_t>(kv_.size());
  for (const auto& [key, v] : kv_) {
    o.str(key);
    o.put<uint32_t>(static_cast<uint32_t>(v.type));
    put_value(o, v);
  }
  uint64_t offset = 0, total = 0;
  for (const auto& t : tensors_) {
    o.str(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) o.put<uint64_t>(d);
    o.put<uint32_t>(static_cast<uint32_t>(t.type));
    o.put<uint64_t>(offset);
    offset += (t.n_bytes + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
    total += t.n_bytes;
  }
  o.pad_to(kDefaultAlignment);

  uint64_t done = 0;
  std::vector<float> chunk;
  std::vector<uint8_t> encoded;
  for (const auto& t : tensors_) {
    if (!t.source) {
      o.bytes(t.raw.data(), t.raw.size());
      done += t.n_bytes;
    } else {
      // Whole rows per chunk (~4 MB of fp32) so blocks never straddle chunks.
      uint64_t row = t.ne[0] ? t.ne[0] : 1;
      uint64_t rows = std::max<uint64_t>(1, (uint64_t{1} << 20) / row);
      for (uint64_t begin = 0; begin < t.n_elements; begin += rows * row) {
        uint64_t count = std::min(rows * row, t.n_elements - begin);
        chunk.resize(count);
        t.source(begin, count, chunk.data());
        encoded.resize(ggml_nbytes(t.type, count));
        quantize(t.type, chunk.data(), count, encoded.data());
        o.bytes(encoded.data(), encoded.size());
        done += encoded.size();
        if (progress) progress(done, total);
      }
    }
    o.pad_to(kDefaultAlignment);
  }
  if (progress) progress(total, total);
  o.close();
}

void GgufWriter::write(const std::string& path, const Progress& progress) const {
  std::string tmp = path + ".tmp";
  try {
    write_to(tmp, progress);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace cascade
