// gpt/safetensors.h — read and write the safetensors format, the file kiso checkpoints live in.
//
// The format (Hugging Face, github.com/huggingface/safetensors), byte by byte:
//
//   [0, 8)        N, the header length: an unsigned 64-bit little-endian integer
//   [8, 8+N)      the header: UTF-8 JSON, an object, padded at the end with spaces
//   [8+N, end)    the data buffer: every tensor's bytes, row-major, little-endian
//
//   header = { "__metadata__": {"format": "pt"},                    (optional, string -> string)
//              "wte.weight": {"dtype": "F32", "shape": [40478, 768],
//                             "data_offsets": [0, 124348416]},        (relative to the buffer)
//              ... }
//
// What it is: a strict reader and a writer for CPU tensors of kiso's dtypes (F32 <-> f32,
// F64 <-> f64, I32 <-> i32); the reader also takes the 16-bit floats transformers saves models
// in (F16, BF16) and widens them to f32, which is exact (base/f16.h, base/bf16.h). The reader validates everything the reference implementation
// (the Rust `safetensors` crate, Metadata::validate and read_metadata) does, and a little more:
// header length at least 2, at most 100 MB (100,000,000 bytes, the reference's limit) and
// inside the file; the header starts with '{' and is strict JSON (gpt/json.h: no duplicate
// keys, no NUL); each entry has exactly the keys dtype, shape, data_offsets with the right
// types; shape × dtype size is computed with every multiplication checked for overflow
// (base/size.h: element and byte counts must fit in int64, like every size kiso computes) and
// equals end − begin; the tensors, sorted by offset, tile the data buffer exactly from 0 to the
// end of the file, with no gap, no overlap and no trailing byte. The writer packs the tensors
// in the order given and pads the header with spaces so that the data starts at a multiple of 8.
// What it is not: a lazy or memory-mapped loader (the whole file is read, every tensor copied
// out), nor a writer of 16-bit floats: I64, U8, F8_* and the other dtypes of the format are
// recognised and refused by name. A big-endian host is not supported (a static_assert says so).
//
// Read next: gpt/atomic_file.h (how save() writes), gpt/json.h (the header's JSON rules).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace kiso::safetensors {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct File {
  NamedTensors tensors;                         // in the order of their data offsets
  std::map<std::string, std::string> metadata;  // the "__metadata__" object; empty when absent
  std::map<std::string, std::string> widened;   // tensor -> "F16" / "BF16": stored so, read as f32
};

// Reads and validates the file at `path`; every error names the path.
File load(const std::string& path);

// Validates and decodes the bytes of a whole safetensors file. `what` names it in every error,
// e.g. "model.safetensors: tensor 'h.0.attn.c_attn.weight': data_offsets [0, 100] hold 100
// bytes, but F32 shape [768, 2304] needs 7077888 bytes".
File parse(std::string_view bytes, const std::string& what);

// The bytes of a safetensors file holding `tensors` (in this order, tightly packed) and
// `metadata` ("__metadata__" is written only when it is not empty). cuda tensors are copied to
// the CPU first. Throws kiso::Error on an empty name, a repeated name, or the reserved name
// "__metadata__".
std::string serialize(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});

// serialize(), written with write_file_atomic: `path` holds the old file or the new one, never
// a half-written one.
void save(const std::string& path, const NamedTensors& tensors,
          const std::map<std::string, std::string>& metadata = {});

}  // namespace kiso::safetensors
