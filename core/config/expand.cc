// Magic variables and reference expansion. See expand.h.
#include "core/config/expand.h"

#include <cctype>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/build_info.h"

namespace kiln::config {
namespace {

std::string Dir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "./" : path.substr(0, slash + 1);
}

std::string Base(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string NoExt(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::string Ext(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos || dot == 0 ? "" : name.substr(dot + 1);
}

// Name of the directory holding the file.
std::string ParentName(const std::string& path) {
  std::string dir = Dir(path);
  if (dir.size() > 1) dir.pop_back();
  return Base(dir);
}

std::string Component(const std::string& path, int n) {
  int i = 0;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (i++ == n) return std::string(part);
  }
  return "";
}

// djb33x, as uWSGI's %j.
std::string Hash(const std::string& s) {
  uint32_t h = 5381;
  for (unsigned char c : s) h = (h * 33) ^ c;
  return absl::StrFormat("%08x", h);
}

// Magic that depends on a file; nullopt when `c` is not one of those letters.
std::optional<std::string> FileMagic(char c, const MagicFile& f) {
  switch (c) {
    case 'p':
      return f.path;
    case 'd':
      return Dir(f.path);
    case 's':
      return Base(f.path);
    case 'n':
      return NoExt(Base(f.path));
    case 'e':
      return Ext(Base(f.path));
    case 'c':
      return ParentName(f.path);
    case 'x':
      return f.section;
    case 'o':
      return f.as_given;
    case 'j':
      return Hash(f.path);
    default:
      break;
  }
  if (c >= '0' && c <= '9') return Component(f.path, c - '0');
  return std::nullopt;
}

std::optional<std::string> GlobalMagic(char c, const ConfigHost& host) {
  switch (c) {
    case 'v':
      return host.Cwd();
    case 'h':
      return host.Hostname();
    case 't':
      return absl::StrFormat("%d", host.NowMicros() / 1000000);
    case 'T':
      return absl::StrFormat("%d", host.NowMicros());
    case 'V':
      return std::string(KILN_VERSION_STRING);
    case 'k':
      return absl::StrFormat("%d", host.Cpus());
    case 'u':
      return absl::StrFormat("%d", host.Uid());
    case 'U':
      return host.UserName();
    case 'g':
      return absl::StrFormat("%d", host.Gid());
    case 'G':
      return host.GroupName();
    case '[':
      return std::string("\x1b");
    case '%':
      return std::string("%");
    default:
      return std::nullopt;
  }
}

// Index of the `)` closing the `(` at `open`, or npos.
size_t MatchParen(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    if (s[i] == ')' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

bool IsOperator(std::string_view t) {
  return t == "+" || t == "-" || t == "*" || t == "/" || t == "++" || t == "--";
}

// `a + b * 2` evaluated left to right; nullopt when an operand is no number or the
// expression is malformed (then the reference stays verbatim).
std::optional<int64_t> Arithmetic(const std::string& expr, const RefHooks& hooks) {
  std::vector<std::string> tokens = absl::StrSplit(expr, ' ', absl::SkipWhitespace());
  auto operand = [&](const std::string& t) -> std::optional<int64_t> {
    int64_t n = 0;
    if (absl::SimpleAtoi(t, &n)) return n;
    std::optional<std::string> v = hooks.placeholder ? hooks.placeholder(t) : std::nullopt;
    if (v && absl::SimpleAtoi(*v, &n)) return n;
    return std::nullopt;
  };
  if (tokens.empty() || IsOperator(tokens[0])) return std::nullopt;
  std::optional<int64_t> acc = operand(tokens[0]);
  for (size_t i = 1; acc && i < tokens.size(); ++i) {
    const std::string& op = tokens[i];
    if (op == "++" || op == "--") {
      acc = *acc + (op == "++" ? 1 : -1);
      continue;
    }
    if (!IsOperator(op) || i + 1 >= tokens.size()) return std::nullopt;
    std::optional<int64_t> rhs = operand(tokens[++i]);
    if (!rhs) return std::nullopt;
    // Unsigned arithmetic wraps instead of overflowing; a config value this large is nonsense
    // anyway, but it must not be undefined behaviour.
    auto a = static_cast<uint64_t>(*acc), b = static_cast<uint64_t>(*rhs);
    if (op == "+") acc = static_cast<int64_t>(a + b);
    if (op == "-") acc = static_cast<int64_t>(a - b);
    if (op == "*") acc = static_cast<int64_t>(a * b);
    if (op == "/") {
      if (*rhs == 0 || (*acc == INT64_MIN && *rhs == -1)) return std::nullopt;
      acc = *acc / *rhs;
    }
  }
  return acc;
}

bool IsArithmetic(const std::string& inner) {
  std::vector<std::string> tokens = absl::StrSplit(inner, ' ', absl::SkipWhitespace());
  if (tokens.size() < 2) return false;
  for (const std::string& t : tokens) {
    if (IsOperator(t)) return true;
  }
  return false;
}

}  // namespace

std::string ExpandMagic(std::string_view value, const MagicContext& ctx, std::string* unknown) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c != '%' || i + 1 >= value.size() || value[i + 1] == '(') {
      out.push_back(c);
      continue;
    }
    char m = value[++i];
    std::optional<std::string> r;
    if (std::isupper(static_cast<unsigned char>(m)) && m != 'T' && m != 'V' && m != 'U' &&
        m != 'G') {
      r = FileMagic(static_cast<char>(std::tolower(static_cast<unsigned char>(m))), ctx.first);
    } else {
      r = FileMagic(m, ctx.file);
    }
    if (!r && ctx.host != nullptr) r = GlobalMagic(m, *ctx.host);
    if (!r) {
      if (unknown != nullptr) unknown->push_back(m);
      continue;
    }
    out += *r;
  }
  return out;
}

absl::StatusOr<std::string> ExpandRefs(std::string_view value, const RefHooks& hooks,
                                       std::vector<std::string>* unresolved) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    bool ref = (c == '$' || c == '@' || c == '%') && i + 1 < value.size() && value[i + 1] == '(';
    size_t close = ref ? MatchParen(value, i + 1) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out.push_back(c);
      continue;
    }
    std::string_view whole = value.substr(i, close - i + 1);
    auto inner = ExpandRefs(value.substr(i + 2, close - i - 2), hooks, unresolved);
    if (!inner.ok()) return inner.status();
    std::optional<std::string> r;
    if (c == '$') {
      r = hooks.env ? hooks.env(*inner) : std::nullopt;
    } else if (c == '@') {
      if (hooks.file) {
        auto contents = hooks.file(*inner);
        if (!contents.ok()) return contents.status();
        r = std::move(*contents);
      }
    } else if (IsArithmetic(*inner)) {
      std::optional<int64_t> n = Arithmetic(*inner, hooks);
      if (n) r = absl::StrFormat("%d", *n);
    } else if (hooks.placeholder) {
      r = hooks.placeholder(*inner);
    }
    if (r) {
      out += *r;
    } else {
      out.append(whole.data(), whole.size());
      if (unresolved != nullptr) unresolved->emplace_back(whole);
    }
    if (out.size() > kMaxValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("the value expands to more than %d bytes", kMaxValueBytes));
    }
    i = close;
  }
  return out;
}

std::vector<std::string> ReferencedNames(std::string_view value) {
  std::vector<std::string> names;
  for (size_t i = 0; i + 1 < value.size(); ++i) {
    if (value[i] != '%' || value[i + 1] != '(') continue;
    size_t close = MatchParen(value, i + 1);
    if (close == std::string_view::npos) break;
    std::string inner(value.substr(i + 2, close - i - 2));
    for (absl::string_view t : absl::StrSplit(inner, ' ', absl::SkipWhitespace())) {
      if (!IsOperator(base::Sv(t))) names.emplace_back(t);
    }
    // Nested references are found when the scan reaches them.
  }
  return names;
}

}  // namespace kiln::config
