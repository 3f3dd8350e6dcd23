// A small JSON reader for the stats document: objects keep their keys in order (the order of
// uWSGI's keys is part of the format the tests compare). Enough for `kiln top` and the tests;
// not a general-purpose library (numbers are doubles, \u escapes above U+00FF become '?').
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::top {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;
  std::vector<JsonValue> items;                            // kArray
  std::vector<std::pair<std::string, JsonValue>> members;  // kObject, in document order

  // The member `key` of an object, or null when absent (or not an object).
  const JsonValue* Find(std::string_view key) const;
  // Number of member `key`, or `fallback`.
  double Num(std::string_view key, double fallback = 0) const;
  // String member `key`, or "".
  std::string Str(std::string_view key) const;
};

// Parses one JSON document (trailing whitespace allowed); errors give the byte offset.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

// The type's JSON name: "null", "boolean", "number", "string", "array", "object".
const char* JsonTypeName(JsonValue::Type t);

}  // namespace kiln::top
