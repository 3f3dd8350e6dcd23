// Loading what the configuration names: N:name parsing, file and alias resolution, autoload,
// option registration and the init call. Lifecycle fan-out is in plugin_lifecycle.cc, routing
// in plugin_routing.cc, the banner in plugin_banner.cc.
#include "core/plugin/plugin_set.h"

#include <unistd.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/edit_distance.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/config/values.h"
#include "core/log/logger.h"
#include "core/plugin/host_api.h"
#include "core/plugin/loader.h"
#include "core/plugin/option_table.h"
#include "core/plugin/plugin_sink.h"

namespace kiln::plugin {
namespace {

using config::Place;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsPluginKey(std::string_view key) {
  return key == "plugins" || key == "plugin" || key == "need-plugin" || key == "need-plugins";
}

bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool MatchesAny(const std::vector<std::string>& aliases, std::string_view name, bool* pattern) {
  for (const std::string& a : aliases) {
    if (AliasMatches(a, name)) {
      *pattern = !a.empty() && a.back() == '*';
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PluginSet>> PluginSet::Load(const config::RawConfig& raw,
                                                           config::OptionRegistry& registry,
                                                           config::Diagnostics& diag) {
  std::vector<std::string> dirs;
  for (const config::Entry& e : raw.entries) {
    if (e.key == "plugin-dir" || e.key == "plugins-dir") {
      dirs.emplace_back(Trim(e.value));
    }
  }
  return LoadWith(raw, registry, diag, SearchPath::Default(dirs));
}

absl::StatusOr<std::unique_ptr<PluginSet>> PluginSet::LoadWith(const config::RawConfig& raw,
                                                               config::OptionRegistry& registry,
                                                               config::Diagnostics& diag,
                                                               SearchPath search, HostAbi abi) {
  std::unique_ptr<PluginSet> set(new PluginSet(std::move(search), abi));
  set->registry_ = &registry;
  for (const config::Entry& e : raw.entries) {
    if (!IsPluginKey(e.key)) {
      continue;
    }
    std::string_view rest = e.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (item.empty()) {
        continue;
      }
      Request req{std::string(item), -1, e.file, e.line, ""};
      size_t colon = item.find(':');
      if (colon != std::string_view::npos && colon > 0 && colon <= 3 &&
          item.substr(0, colon).find_first_not_of("0123456789") == std::string_view::npos) {
        int n = std::stoi(std::string(item.substr(0, colon)));
        if (n > 255) {
          return absl::InvalidArgumentError(
              absl::StrFormat("%s: `%s = %s`: modifier1 %d is out of range (0..255)",
                              Place(e.file, e.line), e.key, item, n));
        }
        req.forced_modifier1 = n;
        req.name = std::string(Trim(item.substr(colon + 1)));
      }
      KILN_RETURN_IF_ERROR(set->LoadOne(req, registry, diag));
    }
  }
  KILN_RETURN_IF_ERROR(set->Autoload(raw, registry, diag));
  // The lone handler plugin answers modifier1 0 (nginx's default) when nothing else claims it.
  if (set->by_modifier1_[0] == nullptr) {
    LoadedPlugin* lone = nullptr;
    int handlers = 0;
    for (auto& p : set->plugins_) {
      if (!p->modifier1.empty()) {
        lone = p.get();
        ++handlers;
      }
    }
    if (handlers == 1) {
      set->by_modifier1_[0] = lone;
    }
  }
  return set;
}

LoadedPlugin* PluginSet::FindLoaded(std::string_view name, bool* via_pattern) {
  *via_pattern = false;
  for (auto& p : plugins_) {
    if (p->name == name || p->requested_as == name) {
      return p.get();
    }
  }
  for (size_t i = 0; i < identities_.size(); ++i) {
    if (MatchesAny(identities_[i].aliases, name, via_pattern)) {
      return plugins_[i].get();
    }
  }
  return nullptr;
}

absl::Status PluginSet::LoadOne(const Request& req, config::OptionRegistry& registry,
                                config::Diagnostics& diag) {
  bool via_pattern = false;
  if (FindLoaded(req.name, &via_pattern) != nullptr) {
    return absl::OkStatus();  // the same plugin named twice: a no-op
  }
  std::vector<std::string> tried = CandidatePaths(search_, req.name);
  for (const std::string& path : tried) {
    if (FileExists(path)) {
      absl::Status loaded = LoadFile(req, path, false, registry, diag);
      if (!loaded.ok() && absl::StrContains(loaded.message(), "a uWSGI plugin")) {
        // Point at kiln's own plugin for the same name, when one is installed.
        for (const InstalledInfo& info : Installed()) {
          if (info.name == req.name || MatchesAny(info.aliases, req.name, &via_pattern)) {
            return absl::Status(
                loaded.code(),
                absl::StrFormat("%s (found at %s)", base::Sv(loaded.message()), info.path));
          }
        }
      }
      return loaded;
    }
  }
  if (!IsPathLike(req.name)) {
    for (const InstalledInfo& info : Installed()) {
      if (info.name == req.name || MatchesAny(info.aliases, req.name, &via_pattern)) {
        return LoadFile(req, info.path, via_pattern, registry, diag);
      }
    }
  }
  return absl::NotFoundError(NotFoundMessage(req, tried));
}

std::string PluginSet::NotFoundMessage(const Request& req,
                                       const std::vector<std::string>& tried) const {
  std::string msg =
      absl::StrFormat("plugin `%s` (%s) not found; tried:", req.name, Place(req.file, req.line));
  for (const std::string& t : tried) {
    absl::StrAppend(&msg, "\n  ", t);
  }
  if (IsPathLike(req.name)) {
    return msg;
  }
  std::vector<std::string> names;
  for (const InstalledInfo& info : Installed()) {
    names.push_back(info.name);
  }
  absl::StrAppend(&msg, "\nand no installed plugin has the alias `", req.name, "`");
  std::vector<std::string_view> views(names.begin(), names.end());
  std::string near = base::Suggest(req.name, views);
  if (!near.empty()) {
    absl::StrAppend(&msg, "; did you mean `", near, "`?");
  } else if (!names.empty()) {
    absl::StrAppend(&msg, " (installed: ", absl::StrJoin(names, ", "), ")");
  }
  return msg;
}

absl::Status PluginSet::LoadFile(const Request& req, const std::string& path, bool via_pattern,
                                 config::OptionRegistry& registry, config::Diagnostics& diag) {
  std::string where = absl::StrFormat("plugin `%s` (%s)", req.name, Place(req.file, req.line));
  absl::StatusOr<OpenedLibrary> lib = OpenLibrary(path);
  if (!lib.ok()) {
    return absl::Status(lib.status().code(),
                        absl::StrFormat("%s: %s", where, base::Sv(lib.status().message())));
  }
  const kiln_plugin_desc* desc = lib->desc;
  absl::Status checked = CheckDescriptor(desc, path, abi_);
  if (!checked.ok()) {
    return absl::Status(checked.code(),
                        absl::StrFormat("%s: %s", where, base::Sv(checked.message())));
  }
  for (auto& p : plugins_) {
    if (p->realpath == lib->realpath) {
      return absl::OkStatus();  // the same file named twice (by name and by path): a no-op
    }
  }
  if (req.forced_modifier1 >= 0 && (desc->kinds & KILN_KIND_HANDLER) == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: `%d:%s` forces a modifier1, but plugin %s does not serve requests",
                        where, req.forced_modifier1, req.name, desc->name));
  }
  std::vector<uint8_t> modifiers = ClaimedModifiers(*desc, req.forced_modifier1);
  absl::Status conflict = CheckConflicts(*desc, path, modifiers, identities_);
  if (!conflict.ok()) {
    return absl::Status(conflict.code(),
                        absl::StrFormat("%s: %s", where, base::Sv(conflict.message())));
  }
  std::vector<config::OptionSpec> options = DeclaredOptions(*desc);
  for (const config::OptionSpec& spec : options) {
    std::vector<std::string> names = spec.aliases;
    names.insert(names.begin(), spec.name);
    for (const std::string& name : names) {
      const config::OptionSpec* taken = registry.Find(name);
      if (taken != nullptr) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: %s: option `%s` of plugin %s is already defined by %s%s", where, path, name,
            desc->name, taken->owner == "core" ? "" : "plugin ", taken->owner));
      }
    }
  }
  absl::Status externs = CheckExternOptions(*desc, registry);
  if (!externs.ok()) {
    return absl::Status(externs.code(),
                        absl::StrFormat("%s: %s: %s", where, path, base::Sv(externs.message())));
  }
  if ((desc->flags & KILN_PLUGIN_GLOBAL_SYMBOLS) != 0) {
    KILN_RETURN_IF_ERROR(PromoteToGlobal(*lib));
  }
  for (config::OptionSpec& spec : options) {
    absl::Status added = registry.Add(std::move(spec));
    if (!added.ok()) {
      return absl::Status(added.code(),
                          absl::StrFormat("%s: %s", where, base::Sv(added.message())));
    }
  }

  auto plugin = std::make_unique<LoadedPlugin>();
  plugin->name = desc->name;
  plugin->path = path;
  plugin->realpath = lib->realpath;
  plugin->requested_as = req.name;
  plugin->desc = desc;
  plugin->modifier1 = modifiers;
  plugin->callbacks.size = sizeof(kiln_callbacks);
  if (via_pattern && desc->versioned_name != nullptr && req.name != desc->versioned_name) {
    diag.Notice(req.file, req.line,
                absl::StrFormat("`%s` is served by kiln's %s plugin, which embeds %s", req.name,
                                desc->name, desc->runtime == nullptr ? "?" : desc->runtime));
  }
  if (desc->init != nullptr) {
    kiln_status st = desc->init(HostApi(), plugin->handle(), &plugin->callbacks);
    if (st != KILN_OK) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s: plugin %s (%s) failed to initialise: %s", where, desc->name, path,
                          TakePluginError("no reason given")));
    }
  }
  if ((desc->kinds & KILN_KIND_HANDLER) != 0 && plugin->callbacks.on_request == nullptr &&
      plugin->callbacks.on_app_request == nullptr) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: handler plugin %s (%s) set no on_request or on_app_request callback", where,
        desc->name, path));
  }
  if ((desc->kinds & KILN_KIND_LOGGER) != 0 && (plugin->callbacks.on_logger_open == nullptr ||
                                                plugin->callbacks.on_logger_write == nullptr)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: logger plugin %s (%s) set no on_logger_open/on_logger_write callback",
                        where, desc->name, path));
  }
  for (uint8_t m : modifiers) {
    by_modifier1_[m] = plugin.get();
  }
  identities_.push_back(IdentityOf(*desc, path, modifiers));
  RegisterSchemes(*plugin);
  plugins_.push_back(std::move(plugin));
  return absl::OkStatus();
}

void PluginSet::RegisterSchemes(LoadedPlugin& p) {
  for (size_t i = 0; i < p.desc->logger_scheme_count; ++i) {
    std::string scheme = p.desc->logger_schemes[i];
    LoadedPlugin* plugin = &p;
    // Conflicts were refused by CheckConflicts, so Register cannot fail here.
    (void)schemes_.Register(scheme, p.name, [plugin, scheme](std::string_view arg) {
      return OpenPluginSink(*plugin, scheme, arg);
    });
  }
}

std::vector<std::string> PluginSet::InstalledNames() const {
  std::vector<std::string> names;
  for (const InstalledInfo& info : Installed()) {
    names.push_back(info.name);
  }
  return names;
}

const std::vector<PluginSet::InstalledInfo>& PluginSet::Installed() const {
  if (installed_scanned_) {
    return installed_;
  }
  installed_scanned_ = true;
  for (const std::string& path : ListPluginFiles(search_)) {
    absl::StatusOr<OpenedLibrary> lib = OpenLibrary(path);
    if (!lib.ok() || !CheckDescriptor(lib->desc, path, abi_).ok()) {
      continue;  // not loadable here; named explicitly it gets its own message
    }
    const kiln_plugin_desc& d = *lib->desc;
    InstalledInfo info;
    info.path = path;
    info.name = d.name;
    for (size_t i = 0; i < d.alias_count; ++i) {
      info.aliases.emplace_back(d.aliases[i]);
    }
    for (config::OptionSpec& spec : DeclaredOptions(d)) {  // names and aliases, for autoload
      info.options.push_back(std::move(spec.name));
      for (std::string& alias : spec.aliases) info.options.push_back(std::move(alias));
    }
    for (size_t i = 0; i < d.logger_scheme_count; ++i) {
      info.schemes.emplace_back(d.logger_schemes[i]);
    }
    installed_.push_back(std::move(info));
  }
  return installed_;
}

std::vector<std::string> PluginSet::ProvidersOf(std::string_view option) const {
  std::vector<std::string> out;
  for (const InstalledInfo& info : Installed()) {
    for (const std::string& o : info.options) {
      if (o == option) {
        out.push_back(info.name);
      }
    }
  }
  return out;
}

config::ProviderLookup PluginSet::Providers() const {
  return [this](std::string_view option) -> std::string {
    return absl::StrJoin(ProvidersOf(option), " or ");
  };
}

config::OptionSuggester PluginSet::Suggester() const {
  return [this](std::string_view unknown) -> std::string {
    std::map<std::string, std::string, std::less<>> owner;  // option or alias -> its owner
    if (registry_ != nullptr) {
      for (const config::OptionSpec* spec : registry_->All()) {
        owner.emplace(spec->name, spec->owner);
        for (const std::string& alias : spec->aliases) owner.emplace(alias, spec->owner);
      }
    }
    for (const InstalledInfo& info : Installed()) {
      for (const std::string& o : info.options) owner.emplace(o, info.name);
    }
    std::vector<std::string_view> names;
    names.reserve(owner.size());
    for (const auto& [name, unused] : owner) names.push_back(name);
    const std::string near = base::Suggest(unknown, names);
    if (near.empty()) return "";
    const std::string& by = owner.find(near)->second;
    return by == "core" ? absl::StrFormat("`%s`", near)
                        : absl::StrFormat("`%s` (%s plugin)", near, by);
  };
}

absl::Status PluginSet::Autoload(const config::RawConfig& raw, config::OptionRegistry& registry,
                                 config::Diagnostics& diag) {
  for (const config::Entry& e : raw.entries) {
    if (e.key == "autoload") {
      config::ValueContext ctx{e.key, e.file, e.line, nullptr};
      if (!config::ParseFlag(e.value, ctx)) {
        return absl::OkStatus();
      }
    }
  }
  for (const config::Entry& e : raw.entries) {
    std::string provider;
    std::string reason;
    if (registry.Find(e.key) == nullptr) {
      std::vector<std::string> providers = ProvidersOf(e.key);
      if (providers.size() > 1) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "option `%s` (%s) is provided by several installed plugins (%s); choose one with "
            "`plugins =`",
            e.key, Place(e.file, e.line), absl::StrJoin(providers, ", ")));
      }
      if (!providers.empty()) {
        provider = providers[0];
        reason = e.key;
      }
    } else if (e.key == "logger" || e.key == "req-logger") {
      log::SinkSpec spec = log::ParseSinkSpec(Trim(e.value));
      if (!spec.scheme.empty() && schemes_.Find(spec.scheme) == nullptr) {
        for (const InstalledInfo& info : Installed()) {
          for (const std::string& s : info.schemes) {
            if (s == spec.scheme && provider.empty()) {
              provider = info.name;
              reason = absl::StrFormat("%s = %s", e.key, Trim(e.value));
            }
          }
        }
      }
    }
    bool unused = false;
    if (provider.empty() || FindLoaded(provider, &unused) != nullptr) {
      continue;
    }
    Request req{provider, -1, e.file, e.line, reason};
    KILN_RETURN_IF_ERROR(LoadOne(req, registry, diag));
    diag.Notice("", 0,
                absl::StrFormat("plugin %s loaded for \"%s\" (%s)", provider, reason,
                                Place(e.file, e.line)));
  }
  return absl::OkStatus();
}

}  // namespace kiln::plugin
