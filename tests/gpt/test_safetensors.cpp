// tests/gpt/test_safetensors.cpp — checkpoint file I/O: the safetensors reader and writer,
// strict JSON, and atomic file writes. Oracles: files assembled byte by byte in the tests from
// the format's description (8-byte little-endian header length, JSON header, data buffer),
// independently of the writer; IEEE-754 bit patterns written out by hand; and, for every rule
// of the reader, one malformed file that breaks exactly that rule.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "base/bf16.h"
#include "base/f16.h"
#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/safetensors.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

// The number of entries in a test's temporary directory (tests/temp_dir.h).
size_t entries(const TempDir& dir) {
  return size_t(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()));
}

// n as 8 little-endian bytes, least significant first.
std::string le64(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file from its parts, exactly as the format describes it.
std::string st_file(std::string_view header, std::string_view data) {
  return le64(header.size()) + std::string(header) + std::string(data);
}

std::string zeros_bytes(size_t n) { return std::string(n, '\0'); }

// The message parse() throws for `bytes` (named "bad.safetensors"), or "(no error)".
std::string parse_error(std::string_view bytes) {
  try {
    safetensors::parse(bytes, "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  size_t n = size_t(a.numel()) * dtype_size(a.dtype());
  return n == 0 || std::memcmp(a.raw_data(), b.raw_data(), n) == 0;
}

// The header entry of a tensor of two F32 values at [begin, begin + 8), and headers of entries.
std::string f32x2(const char* name, int begin) {
  return fmt::format(R"("{}":{{"dtype":"F32","shape":[2],"data_offsets":[{},{}]}})", name, begin, begin + 8);
}
std::string header_of(const std::string& entry) { return fmt::format("{{{}}}", entry); }
std::string header_of(const std::string& entry1, const std::string& entry2) {
  return fmt::format("{{{},{}}}", entry1, entry2);
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_SUITE("gpt") {

// ---- round trips ----

TEST_CASE("safetensors: save then load is bit-exact for f32, f64, i32, a scalar, empty tensors and metadata") {
  // Values whose bits are easy to lose: -0, a NaN with a payload, infinities, a denormal.
  float nan_payload;
  uint32_t nan_bits = 0x7fc01234u;
  std::memcpy(&nan_payload, &nan_bits, 4);
  std::vector<float> f32_values = {0.f, -0.f, 1.f, -2.5f, nan_payload, INFINITY, -INFINITY,
                                   std::numeric_limits<float>::denorm_min(), 3.14159265f, 1e30f, -1e-30f, 7.f};
  safetensors::NamedTensors tensors = {
      {"wte.weight", from_vector(f32_values, {3, 4})},
      {"h.0.attn.bias", from_vector(std::vector<double>{1.0 / 3.0, -0.0, 1e308, 5e-324, 2.0, 3.0}, {1, 2, 3})},
      {"labels", from_vector(std::vector<int32_t>{std::numeric_limits<int32_t>::min(), -1, 0,
                                                  std::numeric_limits<int32_t>::max()}, {4})},
      {"scalar", scalar(0.125, DType::f32)},          // 0-d
      {"empty", zeros({0}, DType::f64)},              // no elements
      {"empty.2d", zeros({3, 0, 2}, DType::i32)},     // no elements, rank 3
      {"after.empty", from_vector({9, 8}, {2, 1}, DType::f64)},
      {"名前", from_vector({1, 2}, {2}, DType::i32)},  // UTF-8 names are legal
  };
  std::map<std::string, std::string> metadata = {{"format", "pt"}, {"kiso", "test \"quoted\" value"}};

  TempDir dir("safetensors");
  std::string path = dir.str("model.safetensors");
  safetensors::save(path, tensors, metadata);
  safetensors::File file = safetensors::load(path);

  REQUIRE(file.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(tensors[i].first);
    CHECK(file.tensors[i].first == tensors[i].first);  // written in order, read in offset order
    CHECK(same_bytes(file.tensors[i].second, tensors[i].second));
  }
  CHECK(file.tensors[3].second.dim() == 0);
  CHECK(file.tensors[3].second.item() == 0.125);
  CHECK(file.metadata == metadata);
  CHECK(entries(dir) == 1);  // no temporary file left behind
}

TEST_CASE("safetensors: no metadata writes no __metadata__, and reads back empty") {
  std::string bytes = safetensors::serialize({{"x", from_vector({1, 2}, {2})}}, {});
  CHECK(bytes.find("__metadata__") == std::string::npos);
  safetensors::File file = safetensors::parse(bytes, "x.safetensors");
  CHECK(file.metadata.empty());
  CHECK(file.tensors.at(0).second.to_vector<float>() == std::vector<float>{1, 2});
}

TEST_CASE("safetensors: the header is padded with spaces so that the data starts at a multiple of 8") {
  // Names of every length mod 8 shift the header's natural length through every residue.
  for (size_t len = 1; len <= 16; ++len) {
    std::string name(len, 'a');
    Tensor t = from_vector({1.5, -2.0, 3.25}, {3}, DType::f32);
    std::string bytes = safetensors::serialize({{name, t}}, {});
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[size_t(i)]);
    CAPTURE(len);
    CHECK(n % 8 == 0);
    CHECK((8 + n) % 8 == 0);
    CHECK(bytes.size() == 8 + n + 12);
    std::string header = bytes.substr(8, n);
    size_t close = header.find_last_of('}');
    CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);  // only spaces after '}'
    CHECK(n - (close + 1) < 8);                                             // and fewer than 8
    // 1.5f, -2.0f, 3.25f in IEEE-754 little-endian, written out by hand.
    CHECK(bytes.substr(8 + n) == std::string("\x00\x00\xc0\x3f\x00\x00\x00\xc0\x00\x00\x50\x40", 12));
  }
  // No tensors and no metadata: "{}" and six spaces.
  CHECK(safetensors::serialize({}, {}) == le64(8) + "{}      ");
}

TEST_CASE("safetensors: a file assembled by hand from the format description loads") {
  // Tensors listed out of offset order, a header not padded to 8, and metadata.
  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
      R"("c":{"shape":[],"data_offsets":[16,24],"dtype":"F64"},)"
      R"("d":{"dtype":"F32","shape":[0,5],"data_offsets":[24,24]}}   )";
  std::string data = std::string("\x07\x00\x00\x00\xfe\xff\xff\xff", 8)    // a: int32 7, -2
                     + std::string("\x00\x00\x80\x3f\x00\x00\x20\xc0", 8)  // b: 1.0f, -2.5f
                     + std::string("\x00\x00\x00\x00\x00\x00\xf0\xbf", 8); // c: -1.0 (double)
  safetensors::File file = safetensors::parse(st_file(header, data), "hand.safetensors");

  REQUIRE(file.tensors.size() == 4);
  CHECK(file.tensors[0].first == "a");
  CHECK(file.tensors[0].second.dtype() == DType::i32);
  CHECK(file.tensors[0].second.to_vector<int32_t>() == std::vector<int32_t>{7, -2});
  CHECK(file.tensors[1].first == "b");
  CHECK(file.tensors[1].second.shape() == Shape{2});
  CHECK(file.tensors[1].second.to_vector<float>() == std::vector<float>{1.0f, -2.5f});
  CHECK(file.tensors[2].first == "c");
  CHECK(file.tensors[2].second.dim() == 0);
  CHECK(file.tensors[2].second.dtype() == DType::f64);
  CHECK(file.tensors[2].second.item() == -1.0);
  CHECK(file.tensors[3].first == "d");
  CHECK(file.tensors[3].second.shape() == Shape{0, 5});
  CHECK(file.metadata == std::map<std::string, std::string>{{"format", "pt"}});
}

TEST_CASE("safetensors: an empty file of the format (no tensors) loads") {
  safetensors::File file = safetensors::parse(st_file("{}", ""), "empty.safetensors");
  CHECK(file.tensors.empty());
  CHECK(file.metadata.empty());
}

TEST_CASE("safetensors: load names the path, for a missing file and for a bad one") {
  TempDir dir("safetensors");
  std::string missing = dir.str("missing.safetensors");
  CHECK_THROWS_WITH_AS(safetensors::load(missing), doctest::Contains((missing + "': No such file or directory").c_str()), Error);
  std::string bad = dir.str("bad.safetensors");
  write_file_atomic(bad, st_file("{}", "xx"));
  CHECK_THROWS_WITH_AS(safetensors::load(bad), doctest::Contains("trailing bytes"), Error);
  CHECK(starts_with(parse_error(""), "bad.safetensors: "));
  try {
    safetensors::load(bad);
  } catch (const Error& e) {
    CHECK(starts_with(e.what(), bad + ": "));
  }
}

// ---- the writer's rules ----

TEST_CASE("safetensors: the writer rejects empty, repeated and reserved names, leaving the old file") {
  Tensor t = zeros({2});
  CHECK_THROWS_WITH_AS(safetensors::serialize({{"", t}}, {}), doctest::Contains("has an empty name"), Error);
  CHECK_THROWS_WITH_AS(safetensors::serialize({{"w", t}, {"v", t}, {"w", t}}, {}),
                       doctest::Contains("duplicate tensor name 'w'"), Error);
  CHECK_THROWS_WITH_AS(safetensors::serialize({{"__metadata__", t}}, {}), doctest::Contains("reserved"), Error);
  CHECK_THROWS_WITH_AS(safetensors::serialize({{"u", Tensor()}}, {}), doctest::Contains("tensor 'u' is undefined"),
                       Error);
  CHECK_THROWS_WITH_AS(safetensors::serialize({{"bad\xff", t}}, {}), doctest::Contains("not valid UTF-8"), Error);

  // save() checks everything before it writes, so a refused save leaves the old file intact.
  TempDir dir("safetensors");
  std::string path = dir.str("m.safetensors");
  safetensors::save(path, {{"w", t}}, {});
  std::string before = read_file(path);
  CHECK_THROWS_WITH_AS(safetensors::save(path, {{"w", t}, {"w", t}}, {}),
                       doctest::Contains(("safetensors::save '" + path + "': duplicate tensor name 'w'").c_str()), Error);
  CHECK(read_file(path) == before);
  CHECK(entries(dir) == 1);
}

// ---- the reader's rules: one malformed file per rule ----

TEST_CASE("safetensors rule: the file holds at least the 8-byte header length") {
  CHECK_THROWS_WITH_AS(safetensors::parse(std::string(5, '\0'), "bad.safetensors"),
                       doctest::Contains("the file is 5 bytes long, too short"), Error);
}

TEST_CASE("safetensors rule: header length at least 2") {
  CHECK_THROWS_WITH_AS(safetensors::parse(le64(1) + "{", "bad.safetensors"),
                       doctest::Contains("header length 1 is smaller than 2"), Error);
  CHECK_THROWS_WITH_AS(safetensors::parse(le64(0), "bad.safetensors"),
                       doctest::Contains("header length 0 is smaller than 2"), Error);
}

TEST_CASE("safetensors rule: header length at most 100 MB") {
  CHECK_THROWS_WITH_AS(safetensors::parse(le64(100'000'001) + "{}", "bad.safetensors"),
                       doctest::Contains("header length 100000001 is larger than the limit of 100000000 bytes"), Error);
  CHECK_THROWS_WITH_AS(safetensors::parse(le64(~uint64_t(0)) + "{}", "bad.safetensors"),
                       doctest::Contains("is larger than the limit"), Error);
}

TEST_CASE("safetensors: absurd sizes in the header are refused before anything is allocated") {
  // A header length of 2^63 (as a signed number it would be negative).
  CHECK_THROWS_WITH_AS(safetensors::parse(le64(uint64_t(1) << 63) + "{}", "bad.safetensors"),
                       doctest::Contains("header length 9223372036854775808 is larger than the limit"), Error);
  // A 4 EiB tensor whose offsets agree with its shape: the data buffer is checked before the
  // tensor is made, so this is an error about the file, not an allocation of 2^62 bytes.
  std::string header = R"({"w":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,4611686018427387904]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("the data buffer ends early: tensor 'w' ends at byte 4611686018427387904 but "
                                         "the buffer holds only 8 bytes"),
                       Error);
  // Offsets at the top of uint64, each tensor's size consistent with its shape.
  header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551607,18446744073709551615]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("gap in the data buffer: bytes [0, 18446744073709551607) belong to no tensor"),
                       Error);
}

TEST_CASE("safetensors rule: the header lies inside the file") {
  CHECK_THROWS_WITH_AS(safetensors::parse(le64(100) + "{}        ", "bad.safetensors"),
                       doctest::Contains("header length 100 runs past the end of the file: only 10 bytes follow"),
                       Error);
}

TEST_CASE("safetensors rule: the header starts with '{'") {
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(" {}", ""), "bad.safetensors"),
                       doctest::Contains("the header must start with '{', found byte 0x20"), Error);
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file("[]", ""), "bad.safetensors"),
                       doctest::Contains("must start with '{'"), Error);
}

TEST_CASE("safetensors rule: the header is JSON") {
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file("{dtype: F32}", ""), "bad.safetensors"),
                       doctest::Contains("bad.safetensors header: invalid JSON at byte 1"), Error);
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file("{} {}", ""), "bad.safetensors"),
                       doctest::Contains("invalid JSON at byte 3"), Error);  // trailing garbage
}

TEST_CASE("safetensors rule: the header is valid UTF-8") {
  std::string header = "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("invalid JSON at byte 3: (line 1, column 4) syntax error while parsing object "
                                         "key - invalid string: ill-formed UTF-8 byte"),
                       Error);
}

TEST_CASE("safetensors rule: no NUL byte in the header") {
  std::string header = std::string("{}\0 ", 4);
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("invalid JSON at byte 2: a NUL byte"), Error);
}

TEST_CASE("safetensors rule: no duplicate tensor name (top-level key)") {
  std::string header = header_of(f32x2("w", 0), f32x2("w", 8));
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(16)), "bad.safetensors"),
                       doctest::Contains("bad.safetensors header: duplicate key \"w\""), Error);
}

TEST_CASE("safetensors rule: no duplicate key inside an entry") {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"dtype":"F32","data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("duplicate key \"dtype\" (in the object under \"w\")"), Error);
}

TEST_CASE("safetensors rule: dtype is a known safetensors dtype") {
  std::string header = R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("unknown dtype \"F33\" for tensor 'w'"), Error);
  header = R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': dtype must be a string such as \"F32\", found the integer 32"),
                       Error);
}

TEST_CASE("safetensors rule: dtype is one kiso reads (F32, F64, I32; F16 and BF16 widened)") {
  for (const char* dtype : {"I64", "U8", "BOOL", "F8_E4M3"}) {
    std::string header = fmt::format(R"({{"x":{{"dtype":"{}","shape":[4],"data_offsets":[0,8]}}}})", dtype);
    CAPTURE(dtype);
    CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                         doctest::Contains(fmt::format("unsupported dtype {} for tensor 'x' (kiso reads F32, F64, I32, and F16, BF16 as F32)",
                                                       dtype).c_str()),
                         Error);
  }
}

// 16-bit little-endian words as bytes, for the F16 and BF16 files below.
static std::string le16s(std::initializer_list<uint16_t> words) {
  std::string out;
  for (uint16_t w : words) out += char(w & 0xff), out += char(w >> 8);
  return out;
}

TEST_CASE("f16_to_f32: the binary16 values written out by hand, and every one of the 65,536 against the compiler's") {
  // Hand-decoded patterns: 1.0, -2.0, the largest half (65504 = 2^15 · (2 - 2^-10)), the
  // smallest normal (2^-14), the smallest and largest subnormals (2^-24, 2^-14 - 2^-24), ±0, ±inf.
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1.0f, -14) - std::ldexp(1.0f, -24));
  CHECK(f16_to_f32(0x3555) == std::ldexp(float(0x555 | 0x400), -12));  // 0.333251953125
  CHECK(f16_to_f32(0x8000) == 0.0f);
  CHECK(std::signbit(f16_to_f32(0x8000)));
  CHECK(f16_to_f32(0x7c00) == std::numeric_limits<float>::infinity());
  CHECK(f16_to_f32(0xfc00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(f16_to_f32(0x7e00)));
  // GCC's _Float16 converts in its own code (libgcc / the F16C instructions), independently of
  // base/f16.h: every finite and infinite half must widen to the same f32 bits, every NaN to a NaN.
  int64_t mismatches = 0;
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    uint16_t h = uint16_t(bits);
    _Float16 half;
    std::memcpy(&half, &h, 2);
    float theirs = float(half), ours = f16_to_f32(h);
    if (std::isnan(theirs)) mismatches += !std::isnan(ours);
    else mismatches += std::memcmp(&theirs, &ours, 4) != 0;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("safetensors: F16 and BF16 tensors are widened to f32, exactly, and their byte counts are 2 a value") {
  // 1.0, -2.0, 2^-24 as F16 (0x3c00, 0xc000, 0x0001); 1.0, -2.0, 1.0078125 (1 + 2^-7) as BF16
  // (0x3f80, 0xc000, 0x3f81): the BF16 is the top half of the f32 pattern.
  std::string header =
      R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]}})";
  safetensors::File f =
      safetensors::parse(st_file(header, le16s({0x3c00, 0xc000, 0x0001, 0x3f80, 0xc000, 0x3f81})), "x.safetensors");
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors[0].first == "h");
  CHECK(f.tensors[0].second.dtype() == DType::f32);
  CHECK(f.tensors[0].second.to_vector<float>() == std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)});
  CHECK(f.tensors[1].second.to_vector<float>() == std::vector<float>{1.0f, -2.0f, 1.0078125f});
  CHECK(f.widened == std::map<std::string, std::string>{{"b", "BF16"}, {"h", "F16"}});
  // F16 shape [3] is 6 bytes, not the 12 an f32 tensor of that shape takes.
  header = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,12]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(12)), "bad.safetensors"),
                       doctest::Contains("data_offsets [0, 12] hold 12 bytes, but F16 shape [3] needs 6 bytes"), Error);
  CHECK(safetensors::parse(st_file(R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", zeros_bytes(4)),
                           "x.safetensors")
            .tensors[0]
            .second.to_vector<float>() == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("safetensors rule: shape holds no negative size") {
  std::string header = R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': shape[0] is negative (-1)"), Error);
}

TEST_CASE("safetensors rule: shape holds integers only") {
  std::string header = R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': shape[0] is the float 2.0, expected a non-negative integer"),
                       Error);
  header = R"({"w":{"dtype":"F32","shape":[1,true],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("shape[1] is the boolean true"), Error);
  header = R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': shape must be an array of non-negative integers"), Error);
}

TEST_CASE("safetensors rule: data_offsets is exactly [begin, end]") {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': data_offsets must be an array of 2 non-negative integers"), Error);
  header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("found an array of 3 elements"), Error);
  header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': data_offsets[0] is the integer -8"), Error);
}

TEST_CASE("safetensors rule: data_offsets begin <= end") {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': data_offsets [8, 0] begin after they end"), Error);
}

TEST_CASE("safetensors rule: the byte count of dtype and shape equals end - begin") {
  std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': byte count mismatch: data_offsets [0, 8] hold 8 bytes, but F32 "
                                         "shape [3] needs 12 bytes"),
                       Error);
}

TEST_CASE("safetensors rule: the byte count does not overflow") {
  // 2^40 cubed is 2^120: it must be caught, not wrapped to 0 (which would match [0, 0]).
  std::string header = R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776,1099511627776],)"
                        R"("data_offsets":[0,0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("bad.safetensors: tensor 'w': the element count of shape [1099511627776, "
                                         "1099511627776, 1099511627776] overflows: 1099511627776 × 1099511627776 is more "
                                         "than 2^63 - 1"),
                       Error);
  // 2^62 elements fit in 64 bits, their 2^64 bytes do not (and would wrap to 0).
  header = R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("tensor 'w': the byte count of F32 shape [4611686018427387904] overflows: "
                                         "4611686018427387904 × 4 is more than 2^63 - 1"),
                       Error);
  // 2^61 F32 elements are 2^63 bytes: past int64 (base/size.h's limit, as for every size kiso
  // computes), though not past uint64.
  header = R"({"w":{"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("tensor 'w': the byte count of F32 shape [2305843009213693952] overflows"),
                       Error);
  header = R"({"w":{"dtype":"F32","shape":[9223372036854775808, 0],"data_offsets":[0,0]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("shape[0] = 9223372036854775808 is too large"), Error);
}

TEST_CASE("safetensors rule: no gap between tensors") {
  std::string header = header_of(f32x2("a", 0), f32x2("b", 12));
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(20)), "bad.safetensors"),
                       doctest::Contains("gap in the data buffer: bytes [8, 12) belong to no tensor (tensor 'a' ends "
                                         "at 8; tensor 'b' begins at 12)"),
                       Error);
  header = header_of(f32x2("a", 4));  // the first tensor must begin at 0
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(12)), "bad.safetensors"),
                       doctest::Contains("gap in the data buffer: bytes [0, 4) belong to no tensor"), Error);
}

TEST_CASE("safetensors rule: no overlap between tensors") {
  std::string header = header_of(f32x2("a", 0), f32x2("b", 4));
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(12)), "bad.safetensors"),
                       doctest::Contains("tensor 'b' overlaps tensor 'a': it begins at byte 4 but 'a' ends at byte 8"),
                       Error);
  header = header_of(f32x2("a", 0), f32x2("b", 0));  // the same bytes twice
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("overlaps"), Error);
}

TEST_CASE("safetensors rule: no trailing bytes after the last tensor") {
  std::string header = header_of(f32x2("a", 0));
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(11)), "bad.safetensors"),
                       doctest::Contains("trailing bytes: the tensors end at byte 8 of the data buffer but it holds 11 "
                                         "bytes (3 belong to no tensor)"),
                       Error);
}

TEST_CASE("safetensors rule: the data does not end early") {
  std::string header = header_of(f32x2("a", 0), f32x2("b", 8));
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(12)), "bad.safetensors"),
                       doctest::Contains("the data buffer ends early: tensor 'b' ends at byte 16 but the buffer holds "
                                         "only 12 bytes"),
                       Error);
}

TEST_CASE("safetensors rule: __metadata__ is an object of strings") {
  std::string header = R"({"__metadata__":{"format":"pt","step":1000}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("__metadata__ \"step\" must be a string, found the integer 1000"), Error);
  header = R"({"__metadata__":["pt"]})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("__metadata__ must be an object of string values, found an array"), Error);
}

TEST_CASE("safetensors rule: an entry has no key besides dtype, shape, data_offsets") {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': unexpected key \"offsets\""), Error);
}

TEST_CASE("safetensors rule: an entry has each of dtype, shape, data_offsets") {
  std::string header = R"({"w":{"dtype":"F32","data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("tensor 'w': missing key \"shape\""), Error);
}

TEST_CASE("safetensors rule: an entry is an object") {
  std::string header = R"({"w":[0,8]})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, ""), "bad.safetensors"),
                       doctest::Contains("tensor 'w': expected an object with dtype, shape and data_offsets, found an "
                                         "array of 2 elements"),
                       Error);
}

TEST_CASE("safetensors rule: a tensor name is not empty") {
  std::string header = R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK_THROWS_WITH_AS(safetensors::parse(st_file(header, zeros_bytes(8)), "bad.safetensors"),
                       doctest::Contains("a tensor has an empty name"), Error);
}

TEST_CASE("safetensors rule: every message names the file") {
  std::string header = R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})";
  std::string message = parse_error(st_file(header, zeros_bytes(16)));
  CHECK(starts_with(message, "bad.safetensors: "));
  CHECK(message.find("'w'") != std::string::npos);
  CHECK(starts_with(parse_error(le64(3) + "{x}"), "bad.safetensors header: invalid JSON"));
}

// ---- strict JSON ----

TEST_CASE("json: duplicate keys are rejected at any depth, and named") {
  CHECK_THROWS_WITH_AS(parse_json_strict(R"({"a":1,"b":2,"a":3})", "cfg.json"),
                       doctest::Contains("cfg.json: duplicate key \"a\""), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(R"({"a":{"b":{"c":1,"c":2}}})", "cfg.json"),
                       doctest::Contains("cfg.json: duplicate key \"c\" (in the object under \"b\")"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(R"({"list":[{"x":1},{"y":2,"y":3}]})", "cfg.json"),
                       doctest::Contains("duplicate key \"y\" (in the object under \"list\")"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(R"([[{"k":1,"k":1}]])", "cfg.json"), doctest::Contains("duplicate key \"k\""),
                       Error);
  // The same key in different objects is fine.
  Json ok = parse_json_strict(R"({"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}],"x":5})", "cfg.json");
  CHECK(ok["c"][1]["x"] == 4);
}

TEST_CASE("json: NUL bytes are rejected, raw or escaped") {
  CHECK_THROWS_WITH_AS(parse_json_strict(std::string_view("{}\0garbage", 10), "cfg.json"),
                       doctest::Contains("cfg.json: invalid JSON at byte 2: a NUL byte"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(std::string_view("{\"a\":\"x\0\"}", 10), "cfg.json"),
                       doctest::Contains("invalid JSON at byte 7: a NUL byte"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(R"({"a":"x\u0000y"})", "cfg.json"),
                       doctest::Contains("the string \"x\\x00y\" contains a NUL character"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(R"({"a\u0000":1})", "cfg.json"),
                       doctest::Contains("the key \"a\\x00\" contains a NUL character"), Error);
}

TEST_CASE("json: invalid UTF-8 is rejected with its byte position") {
  CHECK_THROWS_WITH_AS(parse_json_strict("{\"a\":\"\xff\"}", "cfg.json"),
                       doctest::Contains("cfg.json: invalid JSON at byte 6"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("{\"a\":\"\xc0\x80\"}", "cfg.json"),  // overlong NUL
                       doctest::Contains("ill-formed UTF-8"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("\"\xed\xa0\x80\"", "cfg.json"),  // a UTF-16 surrogate in UTF-8
                       doctest::Contains("ill-formed UTF-8"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict(R"("\ud800")", "cfg.json"), doctest::Contains("surrogate"), Error);
  // The bad byte is shown escaped, never raw.
  try {
    parse_json_strict("{\"a\":\"\xff\"}", "cfg.json");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find('\xff') == std::string::npos);
  }
  CHECK(parse_json_strict("\"caf\xc3\xa9\"", "cfg.json") == "caf\xc3\xa9");  // valid UTF-8 is fine
}

TEST_CASE("json: trailing garbage and other syntax errors are rejected") {
  CHECK_THROWS_WITH_AS(parse_json_strict("{} x", "cfg.json"), doctest::Contains("cfg.json: invalid JSON at byte 3"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("{}{}", "cfg.json"), doctest::Contains("invalid JSON at byte 2"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("", "cfg.json"), doctest::Contains("invalid JSON at byte 0"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("{\"a\":1,}", "cfg.json"), doctest::Contains("invalid JSON"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("// c\n{}", "cfg.json"), doctest::Contains("invalid JSON"), Error);
  CHECK_THROWS_WITH_AS(parse_json_strict("[1e400]", "cfg.json"), doctest::Contains("cfg.json: invalid JSON: number overflow"),
                       Error);
  CHECK(parse_json_strict(" {\"a\": [1, 2.5, null]}  \n", "cfg.json")["a"][1] == 2.5);
}

TEST_CASE("json: typed getters check the type and name the key") {
  Json j = parse_json_strict(
      R"({"n": 12, "neg": -7, "half": 1.5, "one": 1.0, "flag": true, "name": "gpt", "big": 9223372036854775808})",
      "cfg.json");
  CHECK(get_int(j, "n", "cfg.json") == 12);
  CHECK(get_int(j, "neg", "cfg.json") == -7);
  CHECK_THROWS_WITH_AS(get_int(j, "half", "cfg.json"),
                       doctest::Contains("cfg.json: key \"half\": expected an integer, found the float 1.5"), Error);
  CHECK_THROWS_WITH_AS(get_int(j, "one", "cfg.json"), doctest::Contains("found the float 1.0"), Error);
  CHECK_THROWS_WITH_AS(get_int(j, "flag", "cfg.json"),
                       doctest::Contains("key \"flag\": expected an integer, found the boolean true"), Error);
  CHECK_THROWS_WITH_AS(get_int(j, "name", "cfg.json"), doctest::Contains("found a string \"gpt\""), Error);
  CHECK_THROWS_WITH_AS(get_int(j, "big", "cfg.json"), doctest::Contains("does not fit in int64"), Error);
  CHECK_THROWS_WITH_AS(get_int(j, "missing", "cfg.json"),
                       doctest::Contains("cfg.json: missing key \"missing\" (expected an integer)"), Error);

  CHECK(get_number(j, "half", "cfg.json") == 1.5);
  CHECK(get_number(j, "n", "cfg.json") == 12.0);
  CHECK_THROWS_WITH_AS(get_number(j, "flag", "cfg.json"), doctest::Contains("expected a number, found the boolean true"),
                       Error);
  CHECK(get_string(j, "name", "cfg.json") == "gpt");
  CHECK_THROWS_WITH_AS(get_string(j, "n", "cfg.json"), doctest::Contains("expected a string, found the integer 12"),
                       Error);
  CHECK(get_bool(j, "flag", "cfg.json") == true);
  CHECK_THROWS_WITH_AS(get_bool(j, "n", "cfg.json"), doctest::Contains("expected a boolean, found the integer 12"),
                       Error);
  CHECK(has_key(j, "n"));
  CHECK_FALSE(has_key(j, "missing"));
  CHECK_FALSE(has_key(Json::array(), "n"));
  CHECK_THROWS_WITH_AS(get_int(Json::array(), "n", "cfg.json"), doctest::Contains("expected an object holding \"n\""),
                       Error);
}

// ---- atomic writes ----

TEST_CASE("atomic_file: write then read returns the same bytes, NULs included") {
  TempDir dir("safetensors");
  std::string path = dir.str("blob.bin");
  std::string bytes;
  for (int i = 0; i < 70000; ++i) bytes += char(i * 7 % 256);  // more than one read() chunk
  write_file_atomic(path, bytes);
  CHECK(read_file(path) == bytes);
  write_file_atomic(path, "");
  CHECK(read_file(path).empty());
  CHECK(entries(dir) == 1);
}

TEST_CASE("atomic_file: overwriting replaces the file and leaves no temporary file") {
  TempDir dir("safetensors");
  std::string path = dir.str("config.json");
  write_file_atomic(path, "old contents, longer than the new ones");
  write_file_atomic(path, "new");
  CHECK(read_file(path) == "new");
  CHECK(entries(dir) == 1);
}

TEST_CASE("atomic_file: writing into a missing directory throws, naming the path, and creates nothing") {
  TempDir dir("safetensors");
  std::string path = dir.str("no/such/dir/model.safetensors");
  CHECK_THROWS_WITH_AS(write_file_atomic(path, "data"), doctest::Contains("No such file or directory"), Error);
  try {
    write_file_atomic(path, "data");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
  CHECK(entries(dir) == 0);
}

TEST_CASE("atomic_file: a failed rename removes the temporary file and keeps the target") {
  // The target is a non-empty directory: the temporary file is written and fsync'ed, then the
  // rename over the target fails. Nothing may be left behind, and the directory is untouched.
  TempDir dir("safetensors");
  std::string target = dir.str("target");
  fs::create_directory(target);
  write_file_atomic(target + "/inside", "keep me");
  CHECK_THROWS_WITH_AS(write_file_atomic(target, "data"), doctest::Contains("rename over the target"), Error);
  CHECK(fs::is_directory(target));
  CHECK(read_file(target + "/inside") == "keep me");
  CHECK(entries(dir) == 1);  // only "target": the temporary file is gone
}

TEST_CASE("atomic_file: read_file names the path when it cannot read") {
  TempDir dir("safetensors");
  std::string missing = dir.str("absent.json");
  CHECK_THROWS_WITH_AS(read_file(missing),
                       doctest::Contains(("read_file: cannot open '" + missing + "': No such file or directory").c_str()), Error);
  CHECK_THROWS_WITH_AS(read_file(dir.path.string()), doctest::Contains("is a directory"), Error);
}

}  // TEST_SUITE
