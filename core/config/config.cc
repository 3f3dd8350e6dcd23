// Resolve: raw entries -> typed Config, checked against the option registry. Getters.
#include "core/config/config.h"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/check.h"
#include "core/base/strings.h"
#include "core/config/uwsgi_options.h"
#include "core/config/values.h"

namespace kiln::config {
namespace {

std::string Location(const Entry& e) { return e.from_cli ? Place("", 0) : Place(e.file, e.line); }

absl::Status UnknownOption(const Entry& e, const OptionRegistry& registry,
                           const ProviderLookup& providers) {
  std::string provider = providers ? providers(e.key) : "";
  if (!provider.empty()) {
    std::string fix = e.from_cli ? absl::StrFormat("--plugins %s", provider)
                                 : absl::StrFormat("plugins = %s", provider);
    return absl::FailedPreconditionError(
        absl::StrFormat("option `%s` (%s) is provided by plugin `%s`; add `%s`", e.key, Location(e),
                        provider, fix));
  }
  std::string near = registry.Suggest(e.key);
  if (near.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown option --%s (kiln --help lists the options)", e.key));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown option --%s (did you mean --%s?)", e.key, near));
}

// Warns about a key that is no option, and returns the line a no-app refusal repeats.
std::string WarnPlaceholder(const Entry& e, const OptionRegistry& registry,
                            const OptionSuggester& suggest, Diagnostics& diag) {
  std::string near = suggest ? suggest(e.key) : "";
  if (near.empty()) {
    near = registry.Suggest(e.key);
    if (!near.empty()) near = absl::StrFormat("`%s`", near);
  }
  std::string hint = near.empty() ? "" : absl::StrFormat(" (did you mean %s?)", near);
  diag.Warn(e.file, e.line,
            absl::StrFormat("`%s` is not an option%s; kept as a placeholder", e.key, hint));
  return absl::StrFormat("%s: `%s` is not an option%s", Location(e), e.key,
                         near.empty() ? "" : absl::StrFormat("; did you mean %s?", near));
}

bool StrictMode(const RawConfig& raw, const OptionRegistry& registry) {
  bool strict = false;
  for (const Entry& e : raw.entries) {
    const OptionSpec* spec = registry.Find(e.key);
    if (spec != nullptr && spec->name == "strict") {
      strict = ParseFlag(e.value, ValueContext{e.key, e.file, e.line, nullptr});
    }
  }
  return strict;
}

}  // namespace

absl::StatusOr<Config> Resolve(const RawConfig& raw, const OptionRegistry& registry,
                               const ProviderLookup& providers, Diagnostics& diag,
                               const OptionSuggester& suggest) {
  Config config;
  config.entries_ = raw.entries;
  for (const OptionSpec* spec : registry.All()) {
    Config::Value v;
    v.spec = *spec;
    if (!spec->default_value.empty()) {
      v.texts.push_back(spec->default_value);
      auto parsed = ParseValue(*spec, spec->default_value, ValueContext{spec->name, "", 0});
      KILN_CHECK(parsed.ok(), "registry holds an option whose default does not parse");
      v.flag = parsed->flag;
      v.number = parsed->number;
      v.size = parsed->size;
      v.duration = parsed->duration;
    }
    config.canonical_[spec->name] = spec->name;
    for (const std::string& alias : spec->aliases) config.canonical_[alias] = spec->name;
    config.values_.emplace(spec->name, std::move(v));
  }
  std::set<std::string, std::less<>> noticed, warned;
  for (size_t i = 0; i < raw.entries.size(); ++i) {
    const Entry& e = raw.entries[i];
    const OptionSpec* spec = registry.Find(e.key);
    if (spec == nullptr) {
      const bool provided = providers && !providers(e.key).empty();
      const UwsgiOption* uwsgi = provided ? nullptr : FindUwsgiOption(e.key);
      if (uwsgi != nullptr) {
        // uWSGI acts on it; kiln ignores it: say so (never "not an option"), once per name.
        if (warned.insert(e.key).second) {
          diag.Warn(e.file, e.line, NotSupportedMessage(*uwsgi));
          config.stray_keys_.push_back(
              absl::StrFormat("%s: %s", Location(e), NotSupportedMessage(*uwsgi)));
        }
        continue;
      }
      if (e.from_cli || provided) {
        return UnknownOption(e, registry, providers);
      }
      if (!raw.referenced.contains(e.key) && warned.insert(e.key).second) {
        config.stray_keys_.push_back(WarnPlaceholder(e, registry, suggest, diag));
      }
      continue;
    }
    Config::Value& v = config.values_.at(spec->name);
    if (!v.set) v.texts.clear();
    v.set = true;
    if (spec->kind != OptionKind::kList) v.texts.clear();
    v.texts.push_back(e.value);
    v.where.push_back(i);
    ValueContext ctx{e.key, e.file, e.line, &diag};
    absl::StatusOr<ParsedValue> parsed = ParseValue(*spec, e.value, ctx);
    if (!parsed.ok()) return parsed.status();
    v.flag = parsed->flag;
    v.number = parsed->number;
    v.size = parsed->size;
    v.duration = parsed->duration;
    if (spec->state != OptionState::kImplemented && noticed.insert(spec->name).second) {
      const char* what = spec->state == OptionState::kPlanned
                             ? "is accepted but not implemented yet"
                             : "is accepted and has no effect in kiln";
      diag.Notice("", 0, absl::StrFormat("`%s` (%s) %s", e.key, Location(e), what));
    }
  }
  if (StrictMode(raw, registry)) {
    size_t n = diag.PromoteWarnings();
    if (n > 0) {
      return absl::FailedPreconditionError(
          absl::StrFormat("strict = true: %d configuration warning%s", n,
                          n == 1 ? " is an error" : "s are errors"));
    }
  }
  return config;
}

std::vector<std::string> RawList(const RawConfig& raw, const OptionRegistry& registry,
                                 std::string_view option) {
  const OptionSpec* spec = registry.Find(option);
  KILN_CHECK(spec != nullptr, "RawList on an option the registry does not hold");
  std::vector<std::string> out;
  for (const Entry& e : raw.entries) {
    if (registry.Find(e.key) != spec) continue;
    if (!spec->comma_list) {
      out.push_back(e.value);
      continue;
    }
    for (absl::string_view part : absl::StrSplit(e.value, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (!part.empty()) out.emplace_back(part);
    }
  }
  return out;
}

bool RawFlag(const RawConfig& raw, const OptionRegistry& registry, std::string_view option) {
  const OptionSpec* spec = registry.Find(option);
  KILN_CHECK(spec != nullptr && spec->kind == OptionKind::kFlag,
             "RawFlag on an option that is not a registered flag");
  bool value = spec->default_value.empty()
                   ? false
                   : ParseFlag(spec->default_value, ValueContext{spec->name, "", 0, nullptr});
  for (const Entry& e : raw.entries) {
    if (registry.Find(e.key) == spec) {
      value = ParseFlag(e.value, ValueContext{e.key, e.file, e.line, nullptr});
    }
  }
  return value;
}

std::vector<const Entry*> UnknownEntries(const RawConfig& raw, const OptionRegistry& registry) {
  std::vector<const Entry*> out;
  std::set<std::string_view> seen;
  for (const Entry& e : raw.entries) {
    if (registry.Find(e.key) == nullptr && seen.insert(e.key).second) out.push_back(&e);
  }
  return out;
}

const Config::Value& Config::Get(std::string_view name, const char* getter) const {
  auto it = canonical_.find(name);
  if (it == canonical_.end()) {
    std::fprintf(stderr, "kiln: Config::%s(\"%.*s\"): the option registry has no such option\n",
                 getter, static_cast<int>(name.size()), name.data());
    KILN_CHECK(false, "getter on an unknown option");
  }
  return values_.find(it->second)->second;
}

bool Config::Has(std::string_view name) const { return Get(name, "Has").set; }

bool Config::GetFlag(std::string_view name) const {
  const Value& v = Get(name, "GetFlag");
  KILN_CHECK(v.spec.kind == OptionKind::kFlag, "GetFlag on an option that is not a flag");
  return v.flag;
}

int64_t Config::GetNumber(std::string_view name) const {
  const Value& v = Get(name, "GetNumber");
  KILN_CHECK(v.spec.kind == OptionKind::kNumber, "GetNumber on an option that is not a number");
  return v.number;
}

uint64_t Config::GetSize(std::string_view name) const {
  const Value& v = Get(name, "GetSize");
  KILN_CHECK(v.spec.kind == OptionKind::kSize, "GetSize on an option that is not a size");
  return v.size;
}

absl::Duration Config::GetDuration(std::string_view name) const {
  const Value& v = Get(name, "GetDuration");
  KILN_CHECK(v.spec.kind == OptionKind::kDuration,
             "GetDuration on an option that is not a duration");
  return v.duration;
}

std::string Config::GetString(std::string_view name) const {
  const Value& v = Get(name, "GetString");
  return v.texts.empty() ? "" : v.texts.back();
}

std::vector<std::string> Config::GetList(std::string_view name) const {
  const Value& v = Get(name, "GetList");
  if (v.spec.kind != OptionKind::kList) {
    return v.texts.empty() ? std::vector<std::string>{} : std::vector<std::string>{v.texts.back()};
  }
  if (!v.spec.comma_list) return v.texts;
  std::vector<std::string> out;
  for (const std::string& text : v.texts) {
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (!part.empty()) out.emplace_back(part);
    }
  }
  return out;
}

namespace {

// The largest unit of `units` ({suffix, amount}, largest first) that divides `n` exactly.
std::string InUnit(uint64_t n, std::initializer_list<std::pair<const char*, uint64_t>> units) {
  for (const auto& [suffix, amount] : units) {
    if (n != 0 && n % amount == 0) return absl::StrFormat("%d%s", n / amount, suffix);
  }
  return absl::StrFormat("%d", n);
}

}  // namespace

std::vector<Config::Resolved> Config::AllResolved() const {
  std::vector<Resolved> out;
  for (const auto& [name, v] : values_) {
    Resolved r{&v.spec, v.set, {}};
    if (v.spec.kind == OptionKind::kList) {
      r.values = GetList(name);
    } else if (!v.texts.empty()) {
      switch (v.spec.kind) {
        case OptionKind::kFlag:
          r.values.push_back(v.flag ? "true" : "false");
          break;
        case OptionKind::kNumber:
          r.values.push_back(absl::StrFormat("%d", v.number));
          break;
        case OptionKind::kSize:
          r.values.push_back(
              InUnit(v.size, {{"g", uint64_t{1} << 30}, {"m", uint64_t{1} << 20}, {"k", 1024}}));
          break;
        case OptionKind::kDuration: {
          const int64_t ms = absl::ToInt64Milliseconds(v.duration);
          r.values.push_back(ms < 0 ? absl::StrFormat("%dms", ms)
                                    : InUnit(ms, {{"h", 3600000}, {"m", 60000}, {"s", 1000},
                                                  {"ms", 1}}));
          break;
        }
        case OptionKind::kString:
        case OptionKind::kList:
          r.values.push_back(v.texts.back());
          break;
      }
    }
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const Resolved& a, const Resolved& b) { return ListedBefore(*a.spec, *b.spec); });
  return out;
}

const Entry* Config::Where(std::string_view name) const {
  const Value& v = Get(name, "Where");
  return v.where.empty() ? nullptr : &entries_[v.where.back()];
}

absl::Status Config::Locate(absl::Status error) const {
  constexpr std::string_view kLead = "option `";
  const std::string_view msg(error.message().data(), error.message().size());
  if (error.ok() || msg.substr(0, kLead.size()) != kLead) return error;
  const size_t close = msg.find('`', kLead.size());
  if (close == std::string_view::npos) return error;
  const std::string_view quoted = msg.substr(kLead.size(), close - kLead.size());
  auto it = canonical_.find(quoted.substr(0, quoted.find_first_of(" =")));
  if (it == canonical_.end()) return error;
  const Value& v = values_.find(it->second)->second;
  if (v.where.empty()) return error;
  const Entry& e = entries_[v.where.back()];
  if (e.file.empty()) return error;
  // The shape of the reader's own errors: "option `harakiri` in app.ini:3: ...".
  return absl::Status(error.code(), absl::StrFormat("%s in %s:%d%s", msg.substr(0, close + 1),
                                                    e.file, e.line, msg.substr(close + 1)));
}

}  // namespace kiln::config
