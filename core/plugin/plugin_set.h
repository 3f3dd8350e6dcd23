// The plugins of this process: loads what the configuration names (and autoloads what it
// uses), joins their options to the registry, routes requests (by mount point, else modifier1)
// and fans lifecycle calls out in load order. Main builds one PluginSet; nothing else
// dlopen()s. Its methods live by job: plugin_set.cc (loading), plugin_lifecycle.cc,
// plugin_routing.cc, plugin_banner.cc.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/option_registry.h"
#include "core/log/sink_spec.h"
#include "core/plugin/abi_check.h"
#include "core/plugin/loaded_plugin.h"
#include "core/plugin/plugin_info.h"
#include "core/plugin/router.h"
#include "core/plugin/search_path.h"
#include "core/protocol/request_context.h"
#include "core/protocol/spool_packet.h"

namespace kiln::plugin {

// The request interface is the protocol layer's (below both net and plugin); the plugin set is
// one of its handlers.
using protocol::Handler;
using protocol::Header;
using protocol::RequestContext;

class PluginSet : public Handler {
 public:
  // Loads every plugin the raw config names (`plugins`, `plugin`, `need-plugin`: comma lists,
  // `N:name`, paths), searching `plugin-dir` entries first; then, unless `autoload = false`,
  // loads installed plugins that provide options or logger schemes the config uses and no
  // loaded plugin provides, each with one notice. Each plugin's options join `registry`.
  // Errors name the plugin, where it was named (file:line) and the cause.
  static absl::StatusOr<std::unique_ptr<PluginSet>> Load(const config::RawConfig& raw,
                                                         config::OptionRegistry& registry,
                                                         config::Diagnostics& diag);
  ~PluginSet() override;

  // As Load, with an explicit search path and ABI (tests).
  static absl::StatusOr<std::unique_ptr<PluginSet>> LoadWith(const config::RawConfig& raw,
                                                             config::OptionRegistry& registry,
                                                             config::Diagnostics& diag,
                                                             SearchPath search,
                                                             HostAbi abi = HostAbi::Current());

  // Which plugin provides an option, from the descriptors of installed plugins (the search
  // path), loaded or not; "" if none. The function refers to this set.
  config::ProviderLookup Providers() const;

  // The nearest option to a typo among core's, the loaded plugins' and every installed
  // plugin's (read from descriptors, no plugin code run), named with its plugin: "`module`
  // (python plugin)". What the placeholder warning and a no-app refusal suggest. The function
  // refers to this set and its registry.
  config::OptionSuggester Suggester() const;

  // Names of every plugin installed on the search path (loaded or not), in search order:
  // what `kiln --help` loads to document every option.
  std::vector<std::string> InstalledNames() const;

  // Lifecycle fan-out in load order. Each returns the first failure, naming the plugin and
  // its message. ConfigDone also makes the configuration readable through the host table;
  // `cfg` and the registry must outlive the set.
  absl::Status ConfigDone(const config::Config& cfg);
  absl::Status MasterStart();
  absl::Status AppLoad();
  absl::Status PostFork(int worker_id);
  void Reload();
  void Harakiri(int worker_id);
  void WorkerExit();
  // A serving thread offers itself to the plugins' on_serve_thread in load order (SDK 1.4).
  bool DriveThread(protocol::ServeStepper& stepper) override;
  void ServeThreadsDone() override;
  // A spool task, offered to each plugin's on_spool in load order until one does not answer
  // KILN_SPOOL_IGNORE; returns that answer (KILN_SPOOL_IGNORE when none took it).
  int Spool(std::string_view path, const std::vector<protocol::SpoolVar>& vars,
            std::string_view body);
  void Shutdown();

  // Whether any loaded plugin serves requests.
  bool HasHandlers() const;
  // How many `mount` entries the handler plugins claimed (after ConfigDone); each is an app.
  // A plugin's default app (`module`, `lua`) is its own and not counted.
  size_t MountCount() const { return router_.size(); }
  // Routes the request once (router.h: mount point, else modifier1) and calls the plugin's
  // on_app_request with the app handle (on_request for a 1.0 plugin), SCRIPT_NAME/PATH_INFO
  // split as the route says. An unclaimed modifier1 is logged and answered 500; a plugin
  // with no app for it gets a logged 404; a failing plugin is logged and answered 500 if
  // nothing was sent yet.
  void Handle(RequestContext& request) override;

  // One line per plugin for the startup banner: "python 0.1.0 (python 3.11.2), modifier1 0".
  std::vector<std::string> Describe() const;
  // Names of the loaded plugins, in load order.
  std::vector<std::string> Names() const;

  // Logger schemes registered by loaded plugins (`file` -> logfile), for log::OpenSink.
  const log::SchemeTable& LoggerSchemes() const { return schemes_; }

 private:
  struct Request {
    std::string name;      // as written, without N:
    int forced_modifier1;  // -1 when not forced
    std::string file;      // where it was named
    int line;
    std::string reason;  // for autoloads: what needed it ("module")
  };
  struct InstalledInfo {  // a plugin file found on the search path, by its descriptor
    std::string path;
    std::string name;
    std::vector<std::string> aliases;
    std::vector<std::string> options;  // names and aliases
    std::vector<std::string> schemes;
  };

  PluginSet(SearchPath search, HostAbi abi) : search_(std::move(search)), abi_(abi) {}

  absl::Status LoadOne(const Request& req, config::OptionRegistry& registry,
                       config::Diagnostics& diag);
  absl::Status LoadFile(const Request& req, const std::string& path, bool via_alias,
                        config::OptionRegistry& registry, config::Diagnostics& diag);
  absl::Status Autoload(const config::RawConfig& raw, config::OptionRegistry& registry,
                        config::Diagnostics& diag);
  LoadedPlugin* FindLoaded(std::string_view name_or_alias, bool* via_pattern);
  const std::vector<InstalledInfo>& Installed() const;
  std::vector<std::string> ProvidersOf(std::string_view option) const;
  std::string NotFoundMessage(const Request& req, const std::vector<std::string>& tried) const;
  void RegisterSchemes(LoadedPlugin& p);
  absl::Status Fail(const LoadedPlugin& p, const char* hook, kiln_status st) const;

  SearchPath search_;
  HostAbi abi_;
  const config::OptionRegistry* registry_ = nullptr;
  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::vector<LoadedIdentity> identities_;
  std::array<LoadedPlugin*, 256> by_modifier1_{};
  // `mount = /prefix=target` entries, the plugin that claimed each and its app handle.
  Router router_;
  bool vhost_host_ = false;  // vhost-host: the Host header names the app's host
  absl::Status ClaimMounts(const config::Config& cfg);
  // Under vhost, the host a request's app id starts with: SERVER_NAME (vhost-host: the Host
  // header), the other when that one is missing or empty.
  std::string_view RequestHost(const RequestContext& request) const;
  // Logs, once per process, a request that asks for an app by request variables.
  static void NoteDynamicAppRequest(const RequestContext& request);
  log::SchemeTable schemes_;
  mutable bool installed_scanned_ = false;
  mutable std::vector<InstalledInfo> installed_;
};

}  // namespace kiln::plugin
