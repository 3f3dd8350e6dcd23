// Pure ini reader: file bytes -> the key/value lines of one section, comments stripped.
// No expansion, no I/O; errors name the file and line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::config {

// Longest line accepted, in bytes (uWSGI has no limit for ini lines; this bounds memory).
inline constexpr size_t kMaxLineBytes = 65536;

struct IniLine {
  std::string key;
  std::string value;  // trimmed, inline comment removed, `\#` and `\;` unescaped
  int line = 0;       // 1-based
  bool bare = false;  // a key with no `=`
};

struct IniSection {
  std::string section;  // the section that was read
  std::vector<IniLine> lines;
};

// Reads the lines of `section` (every occurrence of its header, in order). With an empty
// `section`, reads [kiln] if the file has one, else [uwsgi]. Errors: the section is missing,
// a line is longer than kMaxLineBytes, holds a NUL byte or is not UTF-8, a header is malformed,
// a line has no key.
absl::StatusOr<IniSection> ParseIni(std::string_view text, std::string_view file,
                                    std::string_view section);

// Cuts an inline comment (a `#` or `;` preceded by whitespace, docs/decisions.md 4), trims, and
// turns `\#` / `\;` into `#` / `;`.
std::string StripInlineComment(std::string_view value);

// True when `s` is well-formed UTF-8; else `bad_offset` is the first bad byte.
bool IsValidUtf8(std::string_view s, size_t* bad_offset);

}  // namespace kiln::config
