// gpt/json.cpp — parse_json_strict and the typed getters. The duplicate-key and NUL checks run
// inside nlohmann's parser through its callback, which reports every object start and end and
// every key and scalar value as they are read.
#include "gpt/json.h"

#include <limits>
#include <set>
#include <vector>

#include "base/check.h"

namespace kiso {

namespace {

// `s` for an error message: control bytes written as \xNN, and non-ASCII bytes too when
// `escape_non_ascii` (text that may hold ill-formed UTF-8, which must never reach a terminal
// raw). Long strings are cut, at a UTF-8 character boundary.
std::string printable(std::string_view s, size_t max_length = 80, bool escape_non_ascii = false) {
  auto continuation = [&](size_t i) { return (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; };
  size_t n = s.size();
  if (n > max_length) {
    n = max_length;
    while (n > 0 && continuation(n)) --n;
  }
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    bool escape = c < 0x20 || c == 0x7f || (c >= 0x80 && escape_non_ascii);
    if (escape) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  if (n < s.size()) out += "...";
  return out;
}

// nlohmann's messages look like
//   "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while ..."
//   "[json.exception.out_of_range.406] number overflow parsing '1e400'"
// Keep what follows the bracketed id, and turn "parse error at line L, column C: reason" into
// "(line L, column C) reason" since the caller already says "invalid JSON at byte N".
std::string reason_of(const std::string& message) {
  std::string_view s = message;
  size_t close = s.find("] ");
  if (close != std::string_view::npos) s.remove_prefix(close + 2);
  constexpr std::string_view prefix = "parse error at ";
  if (s.substr(0, prefix.size()) == prefix) {
    s.remove_prefix(prefix.size());
    size_t colon = s.find(": ");
    if (colon != std::string_view::npos) {
      return "(" + std::string(s.substr(0, colon)) + ") " + printable(s.substr(colon + 2), 400, true);
    }
  }
  return printable(s, 400, true);
}

// One entry per object or array being parsed, innermost last. For an object: the keys seen so
// far in it and the latest of them. For both: the key the value sits under, for error messages
// (the nearest enclosing key; empty at the top level).
struct OpenValue {
  bool is_object = false;
  std::set<std::string> keys;
  std::string current_key;
  std::string under;
};

}  // namespace

Json parse_json_strict(std::string_view text, const std::string& what) {
  const char* op = what.c_str();

  // nlohmann stops reading at a NUL byte and ignores the rest, so look for one first.
  size_t nul = text.find('\0');
  check(nul == std::string_view::npos, op, "invalid JSON at byte {}: a NUL byte (JSON text never holds one)", nul);

  std::vector<OpenValue> open;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start: {
        std::string under;
        if (!open.empty()) under = open.back().is_object ? open.back().current_key : open.back().under;
        open.push_back({event == Json::parse_event_t::object_start, {}, {}, under});
        break;
      }
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        open.pop_back();
        break;
      case Json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        check(key.find('\0') == std::string::npos, op, "the key \"{}\" contains a NUL character (\\u0000)",
              printable(key));
        OpenValue& object = open.back();
        bool fresh = object.keys.insert(key).second;
        if (!fresh && object.under.empty()) fail(op, "duplicate key \"{}\"", printable(key));
        if (!fresh) fail(op, "duplicate key \"{}\" (in the object under \"{}\")", printable(key), printable(object.under));
        object.current_key = key;
        break;
      }
      case Json::parse_event_t::value:
        if (parsed.is_string()) {
          const auto& s = parsed.get_ref<const std::string&>();
          check(s.find('\0') == std::string::npos, op, "the string \"{}\" contains a NUL character (\\u0000)",
                printable(s));
        }
        break;
      default:
        break;
    }
    return true;  // keep every value
  };

  try {
    return Json::parse(text, callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    // e.byte is 1-based: the position of the last character read, the one that broke the syntax.
    fail(op, "invalid JSON at byte {}: {}", e.byte > 0 ? e.byte - 1 : 0, reason_of(e.what()));
  } catch (const Json::exception& e) {
    fail(op, "invalid JSON: {}", reason_of(e.what()));  // e.g. a number too large for a double
  }
}

std::string describe_json(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return value.get<bool>() ? "the boolean true" : "the boolean false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "the integer " + value.dump();
    case Json::value_t::number_float: return "the float " + value.dump();
    case Json::value_t::string: return "a string \"" + printable(value.get_ref<const std::string&>(), 40) + "\"";
    case Json::value_t::array: return fmt::format("an array of {} elements", value.size());
    case Json::value_t::object: return "an object";
    default: return std::string("a ") + value.type_name();
  }
}

namespace {

// obj[key], after checking that obj is an object that has the key.
const Json& field(const Json& obj, const char* key, const char* expected, const std::string& what) {
  check(obj.is_object(), what.c_str(), "expected an object holding \"{}\", found {}", key, describe_json(obj));
  auto it = obj.find(key);
  check(it != obj.end(), what.c_str(), "missing key \"{}\" (expected {})", key, expected);
  return *it;
}

[[noreturn]] void wrong_type(const char* key, const char* expected, const Json& found, const std::string& what) {
  fail(what.c_str(), "key \"{}\": expected {}, found {}", key, expected, describe_json(found));
}

}  // namespace

bool has_key(const Json& obj, const char* key) { return obj.is_object() && obj.contains(key); }

int64_t get_int(const Json& obj, const char* key, const std::string& what) {
  const char* expected = "an integer";
  const Json& v = field(obj, key, expected, what);
  if (!v.is_number_integer()) wrong_type(key, expected, v, what);  // true for signed and unsigned
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    check(u <= uint64_t(std::numeric_limits<int64_t>::max()), what.c_str(),
          "key \"{}\": the integer {} does not fit in int64", key, u);
  }
  return v.get<int64_t>();
}

double get_number(const Json& obj, const char* key, const std::string& what) {
  const char* expected = "a number";
  const Json& v = field(obj, key, expected, what);
  if (!v.is_number()) wrong_type(key, expected, v, what);  // a boolean is not a number here
  return v.get<double>();
}

std::string get_string(const Json& obj, const char* key, const std::string& what) {
  const char* expected = "a string";
  const Json& v = field(obj, key, expected, what);
  if (!v.is_string()) wrong_type(key, expected, v, what);
  return v.get<std::string>();
}

bool get_bool(const Json& obj, const char* key, const std::string& what) {
  const char* expected = "a boolean";
  const Json& v = field(obj, key, expected, what);
  if (!v.is_boolean()) wrong_type(key, expected, v, what);
  return v.get<bool>();
}

}  // namespace kiso
