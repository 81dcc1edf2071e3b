// gpt/safetensors.cpp — the safetensors reader (parse, load) and writer (serialize, save).
// The reader works in passes: 1. the 8-byte header length, 2. the JSON header, 3. each entry on
// its own (keys, dtype, shape, offsets, byte count), 4. all entries together (they must tile the
// data buffer), 5. copy the bytes out into tensors. Nothing is allocated for a tensor before
// the whole header has been checked.
#include "gpt/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include "base/bf16.h"
#include "base/f16.h"
#include "base/size.h"
#include "gpt/atomic_file.h"
#include "gpt/json.h"

namespace kiso::safetensors {

// The format stores numbers little-endian and kiso copies them byte for byte.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference's MAX_HEADER_SIZE

// The dtype names of the format that kiso has no tensor type for. They are listed so that a
// file of I64 ids gets "unsupported dtype I64" rather than "unknown dtype".
constexpr std::string_view kOtherDtypes[] = {
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16",
    "U32", "I64", "U64", "C64", "F4", "F6_E2M3", "F6_E3M2"};

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
  }
  return "?";
}

// One tensor's line of the header, checked on its own.
struct Entry {
  std::string name;
  DType dtype;                // the tensor kiso makes: f32 for the 16-bit floats
  std::string stored = "";    // "F16" or "BF16" when the file holds 2-byte floats widened on read
  int64_t element_bytes = 0;  // in the file
  Shape shape;
  uint64_t begin, end;  // data_offsets, relative to the start of the data buffer
};

uint64_t read_u64_le(const char* p) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(p[i]);
  return n;
}

// "[768, 2304]": a shape as the header writes it.
std::string json_list(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

void append_u64_le(std::string& out, uint64_t n) {
  for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xff);
}

// Pass 3: the entry for tensor `name`. Every message names the file, the tensor and the rule.
Entry parse_entry(const std::string& name, const Json& v, const std::string& what) {
  const char* op = what.c_str();
  check(v.is_object(), op, "tensor '{}': expected an object with dtype, shape and data_offsets, found {}", name,
        describe_json(v));
  for (const auto& item : v.items()) {
    const std::string& key = item.key();
    check(key == "dtype" || key == "shape" || key == "data_offsets", op,
          "tensor '{}': unexpected key \"{}\" (an entry holds exactly dtype, shape and data_offsets)", name, key);
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    check(v.contains(key), op, "tensor '{}': missing key \"{}\" (an entry holds exactly dtype, shape and data_offsets)",
          name, key);
  }

  Entry e;
  e.name = name;

  // dtype: one of ours, another of the format's, or not a safetensors dtype at all.
  const Json& dtype = v["dtype"];
  check(dtype.is_string(), op, "tensor '{}': dtype must be a string such as \"F32\", found {}", name,
        describe_json(dtype));
  const auto& dtype_str = dtype.get_ref<const std::string&>();
  if (dtype_str == "F32") e.dtype = DType::f32;
  else if (dtype_str == "F64") e.dtype = DType::f64;
  else if (dtype_str == "I32") e.dtype = DType::i32;
  else if (dtype_str == "F16" || dtype_str == "BF16") e.dtype = DType::f32, e.stored = dtype_str;
  else if (std::find(std::begin(kOtherDtypes), std::end(kOtherDtypes), dtype_str) != std::end(kOtherDtypes)) {
    fail(op, "unsupported dtype {} for tensor '{}' (kiso reads F32, F64, I32, and F16, BF16 as F32)", dtype_str, name);
  } else {
    fail(op,
         "unknown dtype \"{}\" for tensor '{}' (not a safetensors dtype; kiso reads F32, F64, I32, and F16, BF16 as "
         "F32)",
         dtype_str, name);
  }
  e.element_bytes = e.stored.empty() ? int64_t(dtype_size(e.dtype)) : 2;

  // shape: non-negative integers. nlohmann stores a non-negative integer as "unsigned" and a
  // negative one as "integer"; 2.0, true and "2" are neither.
  const Json& shape = v["shape"];
  check(shape.is_array(), op, "tensor '{}': shape must be an array of non-negative integers, found {}", name,
        describe_json(shape));
  for (size_t i = 0; i < shape.size(); ++i) {
    const Json& d = shape[i];
    if (!d.is_number_integer()) {
      fail(op, "tensor '{}': shape[{}] is {}, expected a non-negative integer", name, i, describe_json(d));
    }
    if (!d.is_number_unsigned()) fail(op, "tensor '{}': shape[{}] is negative ({})", name, i, d.dump());
    uint64_t size = d.get<uint64_t>();
    check(size <= uint64_t(std::numeric_limits<int64_t>::max()), op, "tensor '{}': shape[{}] = {} is too large",
          name, i, size);
    e.shape.push_back(int64_t(size));
  }

  // data_offsets: [begin, end], non-negative, begin <= end.
  const Json& offsets = v["data_offsets"];
  check(offsets.is_array() && offsets.size() == 2, op,
        "tensor '{}': data_offsets must be an array of 2 non-negative integers [begin, end], found {}", name,
        describe_json(offsets));
  for (size_t i = 0; i < 2; ++i) {
    if (!offsets[i].is_number_unsigned()) {
      fail(op, "tensor '{}': data_offsets[{}] is {}, expected a non-negative integer", name, i,
           describe_json(offsets[i]));
    }
  }
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  check(e.begin <= e.end, op, "tensor '{}': data_offsets [{}, {}] begin after they end", name, e.begin, e.end);

  // byte count = product(shape) x dtype size, every multiplication checked (base/size.h): a
  // hostile header could otherwise wrap around to a small number that matches its offsets.
  const int64_t elements =
      product_size(e.shape, op, fmt::format("tensor '{}': the element count of shape {}", name, json_list(e.shape)));
  const uint64_t bytes = uint64_t(mul_size(elements, e.element_bytes, op,
                                           fmt::format("tensor '{}': the byte count of {} shape {}", name, dtype_str,
                                                       json_list(e.shape))));
  check(bytes == e.end - e.begin, op,
        "tensor '{}': byte count mismatch: data_offsets [{}, {}] hold {} bytes, but {} shape {} needs {} bytes", name,
        e.begin, e.end, e.end - e.begin, dtype_str, json_list(e.shape), bytes);
  return e;
}

// Pass 4: sorted by offset, the entries must cover [0, data_size) exactly once.
void check_tiling(const std::vector<Entry>& entries, uint64_t data_size, const std::string& what) {
  const char* op = what.c_str();
  uint64_t covered = 0;          // [0, covered) belongs to the tensors seen so far
  const Entry* last = nullptr;   // the tensor that ends at `covered`
  for (const Entry& e : entries) {
    if (e.begin > covered) {
      fail(op, "gap in the data buffer: bytes [{}, {}) belong to no tensor ({}; tensor '{}' begins at {})", covered,
           e.begin, last ? fmt::format("tensor '{}' ends at {}", last->name, covered) : "the buffer starts at 0",
           e.name, e.begin);
    }
    if (e.begin < covered) {  // then last != nullptr, since covered > 0
      fail(op, "tensor '{}' overlaps tensor '{}': it begins at byte {} but '{}' ends at byte {}", e.name, last->name,
           e.begin, last->name, covered);
    }
    covered = e.end;
    last = &e;
  }
  check(covered <= data_size, op,
        "the data buffer ends early: tensor '{}' ends at byte {} but the buffer holds only {} bytes (is the file "
        "truncated?)", last ? last->name : "", covered, data_size);
  check(covered == data_size, op,
        "trailing bytes: the tensors end at byte {} of the data buffer but it holds {} bytes ({} belong to no tensor)",
        covered, data_size, data_size - covered);
}

// A tensor name or metadata string must survive the JSON round trip unchanged: valid UTF-8
// (nlohmann refuses to write anything else) and no NUL (parse_json_strict refuses to read one).
void check_writable(const std::string& s, const char* role, const char* op) {
  check(s.find('\0') == std::string::npos, op, "{} '{}' contains a NUL byte", role, s);
  try {
    (void)Json(s).dump();
  } catch (const Json::exception&) {
    fail(op, "{} is not valid UTF-8", role);
  }
}

std::string serialize_as(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                         const char* op) {
  // The header, and where each tensor's bytes will go in the data buffer.
  Json header = Json::object();
  if (!metadata.empty()) {
    for (const auto& [key, value] : metadata) {
      check_writable(key, "metadata key", op);
      check_writable(value, "metadata value", op);
    }
    header["__metadata__"] = metadata;
  }
  std::set<std::string> seen;
  std::vector<Tensor> host;  // CPU copies of cuda tensors (the CPU ones themselves otherwise)
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    check(!name.empty(), op, "tensor {} of {} has an empty name", i, tensors.size());
    check(name != "__metadata__", op, "the name \"__metadata__\" is reserved for the metadata object");
    check(seen.insert(name).second, op, "duplicate tensor name '{}'", name);
    check_writable(name, "tensor name", op);
    check(t.defined(), op, "tensor '{}' is undefined", name);
    host.push_back(t.to(Device::cpu));
    uint64_t bytes = uint64_t(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", Json::array({offset, offset + bytes})}};
    offset += bytes;
  }

  // Pad with spaces so that the data buffer starts at a multiple of 8 (8 + N with N % 8 == 0):
  // every tensor is then at least as aligned in the file as its offset.
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + offset);
  append_u64_le(out, text.size());
  out += text;
  for (const Tensor& t : host) {
    out.append(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * dtype_size(t.dtype()));
  }
  return out;
}

}  // namespace

File parse(std::string_view bytes, const std::string& what) {
  const char* op = what.c_str();

  // Pass 1: the header length, and where the header and the data buffer are.
  check(bytes.size() >= 8, op, "the file is {} bytes long, too short to hold the 8-byte header length", bytes.size());
  uint64_t n = read_u64_le(bytes.data());
  check(n >= 2, op, "header length {} is smaller than 2, the size of the shortest header \"{{}}\"", n);
  check(n <= kMaxHeaderBytes, op, "header length {} is larger than the limit of {} bytes (100 MB)", n,
        kMaxHeaderBytes);
  check(n <= bytes.size() - 8, op, "header length {} runs past the end of the file: only {} bytes follow the length",
        n, bytes.size() - 8);
  std::string_view header_text = bytes.substr(8, n);
  std::string_view data = bytes.substr(8 + n);

  // Pass 2: the header is strict JSON and an object (trailing spaces are the writer's padding).
  check(header_text[0] == '{', op, "the header must start with '{{', found byte 0x{:02x}",
        static_cast<unsigned char>(header_text[0]));
  Json header = parse_json_strict(header_text, what + " header");
  check(header.is_object(), op, "the header must be a JSON object, found {}", describe_json(header));

  // Pass 3: each entry on its own, and the metadata.
  File file;
  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    const std::string& key = item.key();
    const Json& value = item.value();
    if (key == "__metadata__") {
      check(value.is_object(), op, "__metadata__ must be an object of string values, found {}", describe_json(value));
      for (const auto& m : value.items()) {
        check(m.value().is_string(), op, "__metadata__ \"{}\" must be a string, found {}", m.key(),
              describe_json(m.value()));
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    check(!key.empty(), op, "a tensor has an empty name");
    entries.push_back(parse_entry(key, value, what));
  }

  // Pass 4: in offset order (names break ties between empty tensors), the entries tile the data.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  check_tiling(entries, data.size(), what);

  // Pass 5: copy each tensor's bytes out of the buffer; 16-bit floats are widened to f32, which
  // holds every F16 and every BF16 value exactly (base/f16.h, base/bf16.h).
  for (const Entry& e : entries) {
    Tensor t(e.shape, e.dtype);
    const char* src = data.data() + e.begin;
    if (e.stored.empty()) {
      if (e.end > e.begin) std::memcpy(t.raw_data(), src, e.end - e.begin);
    } else {
      float* dst = t.data<float>();
      const bool half = e.stored == "F16";
      for (int64_t i = 0, n = t.numel(); i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);  // little-endian, as the host (static_assert above)
        dst[i] = half ? f16_to_f32(h) : to_f32(bf16{h});
      }
      file.widened[e.name] = e.stored;
    }
    file.tensors.emplace_back(e.name, std::move(t));
  }
  return file;
}

File load(const std::string& path) { return parse(read_file(path), path); }

std::string serialize(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  return serialize_as(tensors, metadata, "safetensors::serialize");
}

void save(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::string op = "safetensors::save '" + path + "'";
  write_file_atomic(path, serialize_as(tensors, metadata, op.c_str()));
}

}  // namespace kiso::safetensors
