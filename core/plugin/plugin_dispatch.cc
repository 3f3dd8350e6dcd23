// The plugin set at run time: lifecycle fan-out in load order, request routing by modifier1,
// the startup banner lines, and `kiln --plugin-info`.
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "core/log/escape.h"
#include "core/log/logger.h"
#include "core/plugin/host_api.h"
#include "core/plugin/loader.h"
#include "core/plugin/option_table.h"
#include "core/plugin/plugin_set.h"

namespace kiln::plugin {
namespace {

void RespondError(RequestContext& request, int status, std::string_view reason) {
  if (request.ResponseStarted()) {
    return;
  }
  std::vector<Header> headers = {{"Content-Type", "text/plain"}};
  if (request.StartResponse(status, reason, headers).ok()) {
    (void)request.WriteBody(absl::StrFormat("%d %s\n", status, reason));
  }
}

const char* KindNames(uint32_t kinds) {
  switch (kinds & (KILN_KIND_HANDLER | KILN_KIND_LOGGER | KILN_KIND_HOOK)) {
    case KILN_KIND_HANDLER:
      return "handler";
    case KILN_KIND_LOGGER:
      return "logger";
    case KILN_KIND_HOOK:
      return "hook";
    case KILN_KIND_HANDLER | KILN_KIND_LOGGER:
      return "handler, logger";
    case KILN_KIND_HANDLER | KILN_KIND_HOOK:
      return "handler, hook";
    case KILN_KIND_LOGGER | KILN_KIND_HOOK:
      return "logger, hook";
    default:
      return "handler, logger, hook";
  }
}

std::string ModifierList(const std::vector<uint8_t>& mods) {
  std::vector<int> ints(mods.begin(), mods.end());
  return absl::StrJoin(ints, ", ");
}

}  // namespace

absl::Status PluginSet::Fail(const LoadedPlugin& p, const char* hook, kiln_status st) const {
  return absl::FailedPreconditionError(
      absl::StrFormat("plugin %s: %s failed: %s", p.name, hook,
                      TakePluginError(absl::StrFormat("returned status %d, no reason given",
                                                      static_cast<int>(st)))));
}

PluginSet::~PluginSet() {
  // The host table must not read a configuration that is going away with this set.
  SetHostConfig(nullptr, nullptr);
}

absl::Status PluginSet::ConfigDone(const config::Config& cfg) {
  SetHostConfig(&cfg, registry_);
  auto count = [&](const char* name) -> int {
    if (registry_ == nullptr || registry_->Find(name) == nullptr ||
        registry_->Find(name)->kind != config::OptionKind::kNumber) {
      return 1;
    }
    return static_cast<int>(cfg.GetNumber(name));
  };
  SetHostCounts(count("processes"), count("threads"));
  for (auto& p : plugins_) {
    FillOptionFields(*p->desc, cfg);  // the plugin's settings, before it looks at them
    if (p->callbacks.on_config_done != nullptr) {
      kiln_status st = p->callbacks.on_config_done(p->callbacks.ctx);
      if (st != KILN_OK) {
        return Fail(*p, "configuration check", st);
      }
    }
  }
  return ClaimMounts(cfg);
}

absl::Status PluginSet::ClaimMounts(const config::Config& cfg) {
  mounts_.clear();
  if (registry_ == nullptr || registry_->Find("mount") == nullptr) {
    return absl::OkStatus();
  }
  if (registry_->Find("manage-script-name") != nullptr) {
    manage_script_name_ = cfg.GetFlag("manage-script-name");
  }
  bool any_handler = false;
  for (const std::string& entry : cfg.GetList("mount")) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || entry[0] != '/') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "mount `%s`: expected `/prefix=target` (a module:callable, a .py or .lua file)", entry));
    }
    std::string mountpoint = entry.substr(0, eq);
    while (mountpoint.size() > 1 && mountpoint.back() == '/') mountpoint.pop_back();
    std::string target = entry.substr(eq + 1);
    LoadedPlugin* claimed = nullptr;
    for (auto& p : plugins_) {
      if (p->callbacks.on_request == nullptr) continue;
      any_handler = true;
      if (!KILN_HAS(&p->callbacks, on_mount) || p->callbacks.on_mount == nullptr) continue;
      kiln_status st = p->callbacks.on_mount(
          p->callbacks.ctx, kiln_str{mountpoint.data(), mountpoint.size()},
          kiln_str{target.data(), target.size()});
      if (st == KILN_OK) {
        claimed = p.get();
        break;
      }
      if (st != KILN_DECLINED) return Fail(*p, "mount", st);
    }
    if (claimed == nullptr) {
      if (!any_handler) continue;  // no language plugin at all: nothing to route
      return absl::InvalidArgumentError(absl::StrFormat(
          "mount `%s`: no loaded plugin serves `%s` (load its plugin with `plugins =`)", entry,
          target));
    }
    mounts_.emplace_back(std::move(mountpoint), claimed);
  }
  return absl::OkStatus();
}

LoadedPlugin* PluginSet::RouteByMount(const RequestContext& request) const {
  std::string_view script = request.Var("SCRIPT_NAME").value_or("");
  if (!script.empty()) {
    for (const auto& [mountpoint, plugin] : mounts_) {
      if (mountpoint == script) return plugin;
    }
  }
  if (!manage_script_name_) return nullptr;
  std::string_view path = request.Var("PATH_INFO").value_or("");
  LoadedPlugin* best = nullptr;
  size_t best_len = 0;
  for (const auto& [mountpoint, plugin] : mounts_) {
    bool boundary = path.size() == mountpoint.size() || path[mountpoint.size()] == '/' ||
                    mountpoint == "/";
    if (path.starts_with(mountpoint) && boundary && mountpoint.size() > best_len) {
      best = plugin;
      best_len = mountpoint.size();
    }
  }
  return best;
}

absl::Status PluginSet::MasterStart() {
  SetHostMasterPid(::getpid());
  SetHostWorkerId(0);
  for (auto& p : plugins_) {
    if (p->callbacks.on_master_start != nullptr) {
      kiln_status st = p->callbacks.on_master_start(p->callbacks.ctx);
      if (st != KILN_OK) {
        return Fail(*p, "master start", st);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PluginSet::AppLoad() {
  for (auto& p : plugins_) {
    if (p->callbacks.on_app_load != nullptr) {
      kiln_status st = p->callbacks.on_app_load(p->callbacks.ctx);
      if (st != KILN_OK) {
        return Fail(*p, "app load", st);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PluginSet::PostFork(int worker_id) {
  SetHostWorkerId(worker_id);
  for (auto& p : plugins_) {
    if (p->callbacks.on_postfork != nullptr) {
      kiln_status st = p->callbacks.on_postfork(p->callbacks.ctx, worker_id);
      if (st != KILN_OK) {
        return Fail(*p, "post-fork", st);
      }
    }
  }
  return absl::OkStatus();
}

void PluginSet::Reload() {
  for (auto& p : plugins_) {
    if (p->callbacks.on_reload != nullptr) {
      p->callbacks.on_reload(p->callbacks.ctx);
    }
  }
}

void PluginSet::Harakiri(int worker_id) {
  for (auto& p : plugins_) {
    if (p->callbacks.on_harakiri != nullptr) {
      p->callbacks.on_harakiri(p->callbacks.ctx, worker_id);
    }
  }
}

void PluginSet::WorkerExit() {
  for (auto& p : plugins_) {
    if (p->callbacks.on_worker_exit != nullptr) {
      p->callbacks.on_worker_exit(p->callbacks.ctx);
    }
  }
}

void PluginSet::Shutdown() {
  for (auto& p : plugins_) {
    if (p->callbacks.on_shutdown != nullptr) {
      p->callbacks.on_shutdown(p->callbacks.ctx);
    }
  }
}

bool PluginSet::HasHandlers() const {
  for (const auto& p : plugins_) {
    if (!p->modifier1.empty()) {
      return true;
    }
  }
  return false;
}

void PluginSet::Handle(RequestContext& request) {
  uint8_t m1 = request.Modifier1();
  LoadedPlugin* p = mounts_.empty() ? nullptr : RouteByMount(request);
  if (p == nullptr) p = by_modifier1_[m1];
  if (p == nullptr) {
    log::Error("-- unavailable modifier requested: %d -- (no loaded plugin serves modifier1 %d)",
               m1, m1);
    RespondError(request, 500, "Internal Server Error");
    return;
  }
  SetHostCoreId(request.CoreId());
  kiln_request handle{&request};
  kiln_status st = p->callbacks.on_request(p->callbacks.ctx, &handle);
  switch (st) {
    case KILN_OK:
      break;
    case KILN_DECLINED: {
      std::optional<std::string_view> uri = request.Var("REQUEST_URI");
      log::Warn("plugin %s has no application for %s", p->name,
                uri.has_value() ? log::LogSafe(*uri) : "this request");
      RespondError(request, 404, "Not Found");
      break;
    }
    default:
      // The plugin's reason may quote the request: one line, escaped (escape.h).
      log::Error("plugin %s: request failed: %s", p->name,
                 log::LogSafeText(TakePluginError(
                     absl::StrFormat("status %d, no reason given", static_cast<int>(st)))));
      RespondError(request, 500, "Internal Server Error");
      break;
  }
  if (p->callbacks.on_after_request != nullptr) {
    p->callbacks.on_after_request(p->callbacks.ctx, &handle);
  }
}

std::vector<std::string> PluginSet::Describe() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) {
    std::string line = absl::StrFormat("%s %s", p->name, p->desc->version);
    if (p->desc->runtime != nullptr) {
      absl::StrAppend(&line, " (", p->desc->runtime, ")");
    }
    if (!p->modifier1.empty()) {
      absl::StrAppend(&line, ", modifier1 ", ModifierList(p->modifier1));
    }
    if (p->desc->logger_scheme_count > 0) {
      std::vector<std::string> schemes;
      for (size_t i = 0; i < p->desc->logger_scheme_count; ++i) {
        schemes.push_back(absl::StrCat(p->desc->logger_schemes[i], ":"));
      }
      absl::StrAppend(&line, ", logger ", absl::StrJoin(schemes, " "));
    }
    out.push_back(std::move(line));
  }
  return out;
}

std::vector<std::string> PluginSet::Names() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) {
    out.push_back(p->name);
  }
  return out;
}

absl::StatusOr<std::string> PluginInfo(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(OpenedLibrary lib, OpenLibrary(path));
  HostAbi abi = HostAbi::Current();
  KILN_RETURN_IF_ERROR(CheckDescriptor(lib.desc, path, abi));
  const kiln_plugin_desc& d = *lib.desc;
  std::string out;
  absl::StrAppendFormat(&out, "file: %s\n", path);
  absl::StrAppendFormat(&out, "name: %s\n", d.name);
  absl::StrAppendFormat(&out, "version: %s\n", d.version);
  absl::StrAppendFormat(&out, "runtime: %s\n", d.runtime == nullptr ? "-" : d.runtime);
  absl::StrAppendFormat(&out, "abi: %d.%d (this kiln provides %d.%d)\n", d.abi_major, d.abi_minor,
                        abi.major, abi.minor);
  absl::StrAppendFormat(&out, "kinds: %s\n", KindNames(d.kinds));
  std::vector<std::string> aliases;
  for (size_t i = 0; i < d.alias_count; ++i) {
    aliases.emplace_back(d.aliases[i]);
  }
  absl::StrAppendFormat(&out, "aliases: %s\n",
                        aliases.empty() ? "-" : absl::StrJoin(aliases, ", "));
  std::vector<uint8_t> mods(d.modifier1, d.modifier1 + d.modifier1_count);
  absl::StrAppendFormat(&out, "modifier1: %s\n", mods.empty() ? "-" : ModifierList(mods));
  std::vector<std::string> schemes;
  for (size_t i = 0; i < d.logger_scheme_count; ++i) {
    schemes.push_back(absl::StrCat(d.logger_schemes[i], ":"));
  }
  absl::StrAppendFormat(&out, "logger schemes: %s\n",
                        schemes.empty() ? "-" : absl::StrJoin(schemes, " "));
  absl::StrAppendFormat(&out, "flags: %s%s\n",
                        (d.flags & KILN_PLUGIN_GLOBAL_SYMBOLS) != 0 ? "global-symbols" : "-",
                        (d.build_flags & KILN_BUILD_SANITIZER) != 0 ? ", sanitizer build" : "");
  std::vector<config::OptionSpec> options = DeclaredOptions(d);
  absl::StrAppendFormat(&out, "options: %d\n", options.size());
  for (const config::OptionSpec& o : options) {
    absl::StrAppendFormat(&out, "  %s (%s", o.name, config::OptionKindName(o.kind));
    if (!o.default_value.empty()) absl::StrAppendFormat(&out, ", default %s", o.default_value);
    if (!o.aliases.empty()) {
      absl::StrAppendFormat(&out, ", alias %s", absl::StrJoin(o.aliases, ", "));
    }
    absl::StrAppendFormat(&out, "): %s\n", o.help);
  }
  return out;
}

}  // namespace kiln::plugin
