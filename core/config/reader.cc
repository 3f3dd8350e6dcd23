// Configuration reader: includes, logic blocks and reference expansion (uWSGI's "top to
// bottom, expand as soon as possible" order). See reader.h; docs/decisions.md 3-7 for departures.
#include "core/config/reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/config/values.h"

namespace kiln::config {
namespace {

constexpr std::string_view kOpeners[] = {
    "for",       "for-glob",      "for-readline", "for-times",       "if-env",    "if-not-env",
    "if-exists", "if-not-exists", "if-file",      "if-not-file",     "if-dir",    "if-not-dir",
    "if-opt",    "if-not-opt",    "if-hostname",  "if-not-hostname", "if-plugin", "if-not-plugin"};
constexpr std::string_view kClosers[] = {"end", "endfor", "end-for", "endif", "end-if"};
// uWSGI's other spellings of block openers, and the opener each stands for.
constexpr std::pair<std::string_view, std::string_view> kOpenerAliases[] = {
    {"ifenv", "if-env"},
    {"ifexists", "if-exists"},
    {"ifdir", "if-dir"},
    {"if-directory", "if-dir"},
    {"ifplugin", "if-plugin"}};

std::string_view CanonicalOpener(std::string_view key) {
  for (const auto& [alias, opener] : kOpenerAliases) {
    if (key == alias) return opener;
  }
  return key;
}

bool IsLoop(std::string_view key) { return key.starts_with("for"); }

bool IsPlaceholderSetter(std::string_view key) {
  return key == "set-placeholder" || key == "set-ph" || key == "set";
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// "file.ini:section" -> {file.ini, section}; a colon followed by a path is part of the name.
std::pair<std::string, std::string> SplitSection(const std::string& spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon + 1 == spec.size() ||
      spec.find('/', colon) != std::string::npos) {
    return {spec, ""};
  }
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

// Lines of a for-readline file: \r\n stripped, blank and `#` lines skipped (docs/decisions.md 5).
std::vector<std::string> ReadlineItems(std::string_view text) {
  std::vector<std::string> items;
  for (absl::string_view line : absl::StrSplit(base::Av(text), '\n')) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    items.emplace_back(line);
  }
  return items;
}

}  // namespace

bool IsBlockOpener(std::string_view key) {
  key = CanonicalOpener(key);
  return std::find(std::begin(kOpeners), std::end(kOpeners), key) != std::end(kOpeners);
}

bool IsBlockCloser(std::string_view key) {
  return std::find(std::begin(kClosers), std::end(kClosers), key) != std::end(kClosers);
}

std::string Reader::Canonical(std::string_view key) const {
  const OptionSpec* spec = registry_.Find(key);
  return spec != nullptr ? spec->name : std::string(key);
}

absl::Status Reader::Step() {
  if (++steps_ > kMaxSteps) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the configuration takes more than %d steps to read (a runaway loop?)", kMaxSteps));
  }
  return absl::OkStatus();
}

absl::Status Reader::AddEntry(Entry entry) {
  if (raw_.entries.size() >= kMaxEntries) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: the configuration expands to more than %d entries",
                        Place(entry.file, entry.line), kMaxEntries));
  }
  NoteReferences(entry.value);
  first_entry_.emplace(Canonical(entry.key), raw_.entries.size());
  if (IsPlaceholderSetter(entry.key)) {
    size_t eq = entry.value.find('=');
    if (eq != std::string::npos) {
      first_entry_.emplace(Canonical(entry.value.substr(0, eq)), raw_.entries.size());
    }
  }
  raw_.entries.push_back(std::move(entry));
  return absl::OkStatus();
}

void Reader::NoteReferences(std::string_view value) {
  for (std::string& name : ReferencedNames(value)) raw_.referenced.insert(std::move(name));
}

absl::Status Reader::ReadFile(const std::string& spec) { return Include(spec, nullptr, Where{}); }

absl::Status Reader::Include(const std::string& spec, const Frame* from, const Where& where) {
  auto [path, section] = SplitSection(spec);
  const std::string as_given = path;
  std::string origin =
      from == nullptr ? "" : absl::StrFormat(" (included from %s)", Place(where.file, where.line));
  if (path.empty()) {
    if (from == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("`%s` names a section but no file to read it from", spec));
    }
    path = from->display;
  } else if (from != nullptr && path.front() != '/') {
    path = Dirname(from->display) + path;  // relative to the including file
  }
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("an included file name is longer than %d bytes%s", kMaxPathBytes, origin));
  }
  if (include_stack_.size() >= kMaxIncludeDepth) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: includes nest deeper than %d files%s",
                                                      path, kMaxIncludeDepth, origin));
  }
  std::string real = host_.RealPath(path);
  if (real.empty() || real.front() != '/') real = host_.Cwd() + "/" + path;
  absl::StatusOr<std::string> text = host_.ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrFormat("cannot read configuration file `%s`%s: %s", path, origin,
                                        base::Sv(text.status().message())));
  }
  KILN_ASSIGN_OR_RETURN(IniSection ini, ParseIni(*text, path, section));
  for (const auto& [p, s] : include_stack_) {
    if (p == real && s == ini.section) {
      std::vector<std::string> chain;
      for (const auto& entry : include_stack_) chain.push_back(entry.first + ":" + entry.second);
      chain.push_back(real + ":" + ini.section);
      return absl::InvalidArgumentError(
          absl::StrFormat("include cycle%s: %s", origin, absl::StrJoin(chain, " -> ")));
    }
  }
  Frame frame;
  frame.display = path;
  frame.magic.host = &host_;
  frame.magic.file = MagicFile{real, as_given, ini.section};
  if (!have_first_) {
    have_first_ = true;
    first_ = frame.magic.file;
  }
  frame.magic.first = first_;
  include_stack_.emplace_back(real, ini.section);
  absl::Status status = Run(ini.lines, 0, ini.lines.size(), frame, nullptr);
  include_stack_.pop_back();
  return status;
}

absl::Status Reader::Run(const std::vector<IniLine>& lines, size_t begin, size_t end,
                         const Frame& f, const std::string* binding) {
  for (size_t i = begin; i < end; ++i) {
    KILN_RETURN_IF_ERROR(Step());
    const IniLine& l = lines[i];
    Where where{f.display, l.line};
    if (IsBlockCloser(l.key)) {
      // A stray closer means the blocks are not what the author thinks: which lines apply
      // is unknowable, so refuse rather than guess.
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: `%s` closes no open block (no `for` or `if-*` line before it is left open)",
          f.display, l.line, l.key));
    }
    std::string unknown;
    std::string value = l.bare ? "true" : ExpandMagic(l.value, f.magic, &unknown);
    for (char c : unknown) {
      diag_.Warn(
          f.display, l.line,
          absl::StrFormat(
              "`%%%c` in `%s` is no magic variable and reads as empty, as in uWSGI; write `%%%%%c` "
              "for a literal `%%%c`",
              c, l.key, c, c));
    }
    if (binding != nullptr) value = absl::StrReplaceAll(value, {{"%(_)", *binding}});
    if (value.size() > kMaxValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: the value of `%s` is longer than %d bytes", f.display, l.line,
                          l.key, kMaxValueBytes));
    }
    if (IsBlockOpener(l.key) || l.key.starts_with("if-") || l.key.starts_with("for-")) {
      if (!IsBlockOpener(l.key)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s:%d: `%s` is a logic block kiln does not support", f.display, l.line, l.key));
      }
      size_t close = end, depth = 0;
      for (size_t j = i + 1; j < end; ++j) {
        if (IsBlockOpener(lines[j].key)) ++depth;
        if (IsBlockCloser(lines[j].key) && depth-- == 0) {
          close = j;
          break;
        }
      }
      const char* expected = IsLoop(l.key) ? "endfor" : "endif";
      if (close == end) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s:%d: `%s` block is never closed (expected `%s` before the end of the %s)", f.display,
            l.line, l.key, expected, binding ? "enclosing block" : "section"));
      }
      const std::string& closer = lines[close].key;
      if ((closer.find("for") != std::string::npos && !IsLoop(l.key)) ||
          (closer.find("if") != std::string::npos && IsLoop(l.key))) {
        diag_.Warn(f.display, lines[close].line,
                   absl::StrFormat("`%s` closes the `%s` block opened at line %d (expected `%s`)",
                                   closer, l.key, l.line, expected));
      }
      NoteReferences(value);
      KILN_ASSIGN_OR_RETURN(std::string expanded, ExpandNow(value, where));
      KILN_RETURN_IF_ERROR(
          RunBlock(std::string(CanonicalOpener(l.key)), expanded, lines, i + 1, close, f, where));
      i = close;
      continue;
    }
    if (l.key == "ini" || l.key == "include") {
      NoteReferences(value);
      KILN_ASSIGN_OR_RETURN(std::string expanded, ExpandNow(value, where));
      KILN_RETURN_IF_ERROR(Include(expanded, &f, where));
      continue;
    }
    KILN_RETURN_IF_ERROR(AddEntry(Entry{l.key, std::move(value), f.display, l.line, false}));
  }
  return absl::OkStatus();
}

absl::Status Reader::RunBlock(const std::string& key, const std::string& value,
                              const std::vector<IniLine>& lines, size_t begin, size_t end,
                              const Frame& f, const Where& where) {
  if (key == "for") {
    std::vector<std::string> items = absl::StrSplit(value, ' ', absl::SkipWhitespace());
    return RunLoop(items, lines, begin, end, f);
  }
  if (key == "for-glob") return RunLoop(host_.Glob(value), lines, begin, end, f);
  if (key == "for-times") {
    int64_t n = 0;
    ValueContext ctx{key, where.file, where.line, &diag_};
    KILN_ASSIGN_OR_RETURN(n, ParseNumber(value, ctx));
    if (n < 0 || static_cast<size_t>(n) > kMaxEntries) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: for-times = %d is out of range (0 to %d)",
                          Place(where.file, where.line), n, kMaxEntries));
    }
    std::vector<std::string> items;
    for (int64_t k = 1; k <= n; ++k) items.push_back(absl::StrFormat("%d", k));
    return RunLoop(items, lines, begin, end, f);
  }
  if (key == "for-readline") {
    absl::StatusOr<std::string> text = host_.ReadFile(value);
    if (!text.ok()) {
      return absl::Status(
          text.status().code(),
          absl::StrFormat("%s: for-readline cannot read `%s`: %s", Place(where.file, where.line),
                          value, base::Sv(text.status().message())));
    }
    size_t bad = 0;
    if (!IsValidUtf8(*text, &bad) || text->find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: for-readline file `%s` is not UTF-8 text", Place(where.file, where.line), value));
    }
    return RunLoop(ReadlineItems(*text), lines, begin, end, f);
  }
  // Conditions: `name[=value]`, true when it holds; %(_) is the value found.
  bool negate = key.starts_with("if-not-");
  std::string what = key.substr(negate ? 7 : 3);
  auto [name, want] = std::pair<std::string, std::optional<std::string>>{value, std::nullopt};
  if (what == "env" || what == "opt") {
    size_t eq = value.find('=');
    if (eq != std::string::npos) {
      name = value.substr(0, eq);
      want = value.substr(eq + 1);
    }
  }
  std::optional<std::string> found;
  if (what == "env") {
    found = host_.GetEnv(name);
  } else if (what == "opt") {
    raw_.referenced.insert(name);
    found = Lookup(name, where);
  } else if (what == "exists") {
    if (host_.Exists(value)) found = value;
  } else if (what == "file") {
    if (host_.IsFile(value)) found = value;
  } else if (what == "dir") {
    if (host_.IsDir(value)) found = value;
  } else if (what == "hostname") {
    if (host_.Hostname() == value) found = value;
  } else if (what == "plugin") {
    for (const Entry& e : raw_.entries) {
      if (Canonical(e.key) != "plugins") continue;
      for (absl::string_view p : absl::StrSplit(e.value, ',', absl::SkipWhitespace())) {
        if (absl::StripAsciiWhitespace(p) == value) found = value;
      }
    }
  }
  bool holds = found.has_value() && (!want || *found == *want);
  if (holds == negate) return absl::OkStatus();
  std::string binding = found.value_or(value);
  return Run(lines, begin, end, f, &binding);
}

absl::Status Reader::RunLoop(const std::vector<std::string>& items,
                             const std::vector<IniLine>& lines, size_t begin, size_t end,
                             const Frame& f) {
  for (const std::string& item : items) {
    KILN_RETURN_IF_ERROR(Step());
    KILN_RETURN_IF_ERROR(Run(lines, begin, end, f, &item));
  }
  return absl::OkStatus();
}

std::optional<std::string> Reader::Lookup(const std::string& name, const Where& where) {
  if (exhausted_ || ++steps_ > kMaxSteps) {
    exhausted_ = true;
    return std::nullopt;
  }
  if (std::find(resolving_.begin(), resolving_.end(), name) != resolving_.end()) {
    diag_.Warn(where.file, where.line,
               absl::StrFormat("`%%(%s)` refers to itself; kept verbatim", name));
    return std::nullopt;
  }
  auto it = first_entry_.find(Canonical(name));
  if (it == first_entry_.end()) return std::nullopt;
  const Entry* hit = &raw_.entries[it->second];
  std::string value = hit->value;
  if (IsPlaceholderSetter(hit->key) && Canonical(hit->key) != Canonical(name)) {
    value = value.substr(value.find('=') + 1);
  }
  resolving_.push_back(name);
  absl::StatusOr<std::string> expanded = ExpandNow(value, Where{hit->file, hit->line});
  resolving_.pop_back();
  if (!expanded.ok()) return std::nullopt;  // the entry itself reports the failure
  return *expanded;
}

absl::StatusOr<std::string> Reader::ExpandNow(const std::string& value, const Where& where,
                                              bool warn_placeholders) {
  RefHooks hooks;
  hooks.env = [this](const std::string& n) { return host_.GetEnv(n); };
  hooks.file = [this, &where](const std::string& p) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> text = host_.ReadFile(p);
    if (!text.ok()) {
      return absl::Status(text.status().code(), absl::StrFormat("%s: `@(%s)` cannot be read: %s",
                                                                Place(where.file, where.line), p,
                                                                base::Sv(text.status().message())));
    }
    if (!text->empty() && text->back() == '\n') text->pop_back();
    return text;
  };
  hooks.placeholder = [this, &where](const std::string& n) { return Lookup(n, where); };
  std::vector<std::string> unresolved;
  KILN_ASSIGN_OR_RETURN(std::string out, ExpandRefs(value, hooks, &unresolved));
  if (exhausted_) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: references nest too deeply to expand", Place(where.file, where.line)));
  }
  if (out.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: the value expands to more than %d bytes",
                                                      Place(where.file, where.line),
                                                      kMaxValueBytes));
  }
  for (const std::string& ref : unresolved) {
    // Inside a lookup, the entry that holds the reference reports it.
    if (ref.starts_with("%(") && (!resolving_.empty() || !warn_placeholders)) continue;
    const char* why = ref.starts_with("$(") ? "the environment variable is not set"
                      : ref == "%(_)"       ? "there is no enclosing for or if block"
                                            : "no option or placeholder has that name";
    diag_.Warn(where.file, where.line,
               absl::StrFormat("`%s` is not resolved (%s); kept verbatim, as in uWSGI", ref, why));
  }
  return out;
}

absl::Status Reader::Finish() {
  std::vector<std::string> expanded;
  expanded.reserve(raw_.entries.size());
  for (const Entry& e : raw_.entries) {
    KILN_RETURN_IF_ERROR(Step());
    Where where{e.file, e.line};
    // log-format's %(var) names are request variables, filled in per request (docs/decisions.md 7).
    bool warn = Canonical(e.key) != "log-format";
    KILN_ASSIGN_OR_RETURN(std::string v, ExpandNow(e.value, where, warn));
    expanded.push_back(std::move(v));
  }
  for (size_t i = 0; i < expanded.size(); ++i) raw_.entries[i].value = std::move(expanded[i]);
  return absl::OkStatus();
}

}  // namespace kiln::config
