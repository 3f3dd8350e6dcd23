// Pure ini reader. See ini_reader.h.
#include "core/config/ini_reader.h"

#include <utility>

#include "absl/strings/str_format.h"

namespace kiln::config {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

absl::Status LineError(std::string_view file, int line, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("%s:%d: %s", file, line, what));
}

// The section name when `line` is a header "[name]", else nullopt-like empty + false.
bool SectionHeader(std::string_view line, std::string_view& name) {
  if (line.empty() || line.front() != '[') return false;
  if (line.back() != ']') {
    name = {};
    return true;
  }
  name = Trim(line.substr(1, line.size() - 2));
  return true;
}

struct RawLine {
  std::string_view text;
  int number;
};

}  // namespace

bool IsValidUtf8(std::string_view s, size_t* bad_offset) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len >= 2) {
      // Reject overlong forms, surrogates and code points past U+10FFFF.
      uint32_t cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!ok) {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string StripInlineComment(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool prev_space = true;  // a comment mark right after `=` (or at the start) starts a comment
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size() && (value[i + 1] == '#' || value[i + 1] == ';')) {
      out.push_back(value[++i]);
      prev_space = false;
      continue;
    }
    if ((c == '#' || c == ';') && prev_space) break;
    prev_space = c == ' ' || c == '\t';
    out.push_back(c);
  }
  return std::string(Trim(out));
}

absl::StatusOr<IniSection> ParseIni(std::string_view text, std::string_view file,
                                    std::string_view section) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte order mark
  std::vector<RawLine> raw;
  bool has_kiln = false, has_uwsgi = false;
  int number = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    ++number;
    if (line.size() > kMaxLineBytes) {
      return LineError(file, number,
                       absl::StrFormat("line is %d bytes long, more than the %d "
                                       "allowed",
                                       line.size(), kMaxLineBytes));
    }
    std::string_view name;
    if (SectionHeader(Trim(line), name)) {
      has_kiln |= name == "kiln";
      has_uwsgi |= name == "uwsgi";
    }
    raw.push_back({line, number});
    if (end == text.size()) break;
    pos = end + 1;
  }
  IniSection out;
  if (!section.empty()) {
    out.section = std::string(section);
  } else if (has_kiln || has_uwsgi) {
    out.section = has_kiln ? "kiln" : "uwsgi";
  } else {
    return absl::NotFoundError(absl::StrFormat("%s has no [kiln] or [uwsgi] section", file));
  }
  bool in_section = false, found = false;
  for (const RawLine& r : raw) {
    std::string_view line = Trim(r.text);
    std::string_view name;
    if (SectionHeader(line, name)) {
      if (name.empty()) {
        return LineError(file, r.number, "malformed section header (expected `[name]`)");
      }
      in_section = name == out.section;
      found |= in_section;
      continue;
    }
    if (!in_section || line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.find('\0') != std::string_view::npos) {
      return LineError(file, r.number, "line holds a NUL byte");
    }
    IniLine entry;
    entry.line = r.number;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      entry.key = StripInlineComment(line);
      entry.bare = true;
    } else {
      entry.key = std::string(Trim(line.substr(0, eq)));
      entry.value = StripInlineComment(line.substr(eq + 1));
    }
    if (entry.key.empty()) {
      return LineError(file, r.number, "line has no option name before `=`");
    }
    size_t bad = 0;
    if (!IsValidUtf8(entry.key, &bad) || !IsValidUtf8(entry.value, &bad)) {
      return LineError(file, r.number,
                       "line is not valid UTF-8 (configuration files must be UTF-8 text)");
    }
    out.lines.push_back(std::move(entry));
  }
  if (!found) {
    return absl::NotFoundError(absl::StrFormat("%s has no [%s] section", file, out.section));
  }
  return out;
}

}  // namespace kiln::config
