// gpt/json.h — strict JSON parsing and typed field access for config and checkpoint headers.
//
// What it is: a thin layer over nlohmann::json that refuses what nlohmann accepts silently.
// nlohmann keeps the last of two equal keys ({"a": 1, "a": 2} is {"a": 2}), stops at a NUL
// byte ("{}\0garbage" parses as {}), decodes "\u0000" into a string with a NUL inside, and
// converts between number types on request (get<int64_t>() of 1.5 is 1). parse_json_strict
// rejects the first three; the get_* functions below refuse the fourth, so a config value of
// 1.5 where an integer belongs is an error naming the key, not a silent 1.
// What it is not: a JSON library of its own. Syntax, UTF-8 validation (ill-formed bytes,
// overlong forms, lone surrogates) and trailing-garbage detection are nlohmann's; this file
// only turns its exceptions into kiso::Error with the source named.
//
// Reference: RFC 8259 (JSON), which says object names SHOULD be unique; kiso makes it a MUST.
// Read next: gpt/safetensors.h (the header of a safetensors file is parsed here).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace kiso {

using Json = nlohmann::json;

// Parses `text` as one JSON value. `what` names the source in every error, e.g.
//   "model/config.json: invalid JSON at byte 17: syntax error while parsing value - ..."
//   "model/config.json: duplicate key \"n_embd\""
// Rejected: any syntax error or trailing garbage, invalid UTF-8, a NUL byte anywhere in the
// text, a string (key or value) that decodes to a NUL character, and a key that appears twice
// in one object (at any depth). Byte positions count from 0 at the start of `text`.
Json parse_json_strict(std::string_view text, const std::string& what);

// A short description of a JSON value for error messages: "the float 1.5", "the boolean true",
// "a string \"abc\"", "an array", "an object", "null".
std::string describe_json(const Json& value);

// Typed access to obj[key]. Each throws kiso::Error naming `what`, the key, the expected type
// and what was found when obj is not an object, the key is missing or the value has another
// type. An integer is written without a fraction or exponent (1, not 1.0 or 1e0); a boolean is
// never a number.
bool has_key(const Json& obj, const char* key);
int64_t get_int(const Json& obj, const char* key, const std::string& what);
double get_number(const Json& obj, const char* key, const std::string& what);  // integer or float
std::string get_string(const Json& obj, const char* key, const std::string& what);
bool get_bool(const Json& obj, const char* key, const std::string& what);

}  // namespace kiso
