// The plugin set's lifecycle fan-out: each stage (configuration check, master start, app
// load, post-fork, reload, harakiri, worker exit, shutdown) called on every plugin in load
// order, the first failure named. Routing is plugin_routing.cc; the banner plugin_banner.cc;
// `--plugin-info` plugin_info.cc.
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "core/plugin/host_api.h"
#include "core/plugin/option_table.h"
#include "core/plugin/plugin_set.h"

namespace kiln::plugin {

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

int PluginSet::Spool(std::string_view path, const std::vector<protocol::SpoolVar>& vars,
                     std::string_view body) {
  std::vector<kiln_header> headers;
  headers.reserve(vars.size());
  for (const auto& [key, value] : vars) {
    headers.push_back(kiln_header{{key.data(), key.size()}, {value.data(), value.size()}});
  }
  for (auto& p : plugins_) {
    if (p->callbacks.on_spool == nullptr) continue;
    int ret = p->callbacks.on_spool(p->callbacks.ctx, kiln_str{path.data(), path.size()},
                                    headers.data(), headers.size(),
                                    kiln_str{body.data(), body.size()});
    if (ret != KILN_SPOOL_IGNORE) return ret;
  }
  return KILN_SPOOL_IGNORE;
}

void PluginSet::Shutdown() {
  for (auto& p : plugins_) {
    if (p->callbacks.on_shutdown != nullptr) {
      p->callbacks.on_shutdown(p->callbacks.ctx);
    }
  }
}

}  // namespace kiln::plugin
