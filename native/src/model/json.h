// A small, bounds-checked JSON reader for config.json, the safetensors
// header and model.safetensors.index.json. Enough of RFC 8259 for those
// files (numbers as double, \uXXXX escapes incl. surrogate pairs), with a
// nesting limit so a hostile file cannot exhaust the stack.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "result.h"

namespace hs {

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  std::string str;
  std::vector<Json> items;        // Array elements, or Object values
  std::vector<std::string> keys;  // Object keys, parallel to items

  bool is_null() const { return type == Type::Null; }
  bool is_number() const { return type == Type::Number; }
  bool is_string() const { return type == Type::String; }
  bool is_array() const { return type == Type::Array; }
  bool is_object() const { return type == Type::Object; }
  bool is_bool() const { return type == Type::Bool; }
  // Member of an object, or nullptr (also when this is not an object).
  const Json* get(const std::string& key) const;
};

// `where` names the file in error messages.
Result<Json> parse_json(const char* text, size_t length, const std::string& where);

// Typed member access for configs: missing or null -> fallback; present
// with the wrong type -> error naming the key.
Result<double> json_number(const Json& obj, const std::string& key, double fallback,
                           const std::string& where);
Result<int64_t> json_int(const Json& obj, const std::string& key, int64_t fallback,
                         const std::string& where);
bool json_has(const Json& obj, const std::string& key);

}  // namespace hs
