// Request routing, the one place kiln decides it: the mount table built from the `mount`
// entries the plugins claimed at start-up, and per request which plugin and which of its apps
// serve it, with the SCRIPT_NAME/PATH_INFO split the app sees. Pure: plugins are pointers it
// hands back, never calls; strings in, a decision out.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::plugin {

class LoadedPlugin;

// One `mount = /prefix=target` value, checked: `point` starts with '/' and has no trailing
// '/' ("/" alone is the root mount); `target` is what the plugin is offered. Under `vhost` the
// value is uWSGI's `host|/prefix=target` (`host|=target` for the host's root): `host` is the
// host it serves, empty outside vhost mode.
struct MountEntry {
  std::string host;
  std::string point;
  std::string target;
};

// Reads a `mount` value; InvalidArgument naming it when it is not `/prefix=target` (under
// `vhost`: not `host|/prefix=target`).
absl::StatusOr<MountEntry> ParseMountEntry(std::string_view entry, bool vhost = false);

// The mount point as uWSGI names the app and as the plugin is offered it: `point`, or under
// vhost `host|point` (`host|` for the host's root), uWSGI's app id SERVER_NAME|SCRIPT_NAME.
std::string MountPointName(const MountEntry& mount);

// Where a request goes. `plugin` is null when nothing serves it.
struct Route {
  LoadedPlugin* plugin = nullptr;
  void* app = nullptr;    // what the plugin's on_mount_app returned; null: its default app
  bool by_mount = false;  // a mount point matched (else the plugin serves the modifier1)
  bool split = false;     // manage-script-name moved the mount point into SCRIPT_NAME
  std::string_view script_name;  // when split: the mount point (lives as long as the router)
  std::string_view path_info;    // when split: the rest of PATH_INFO (a view into it)
  // No app's id matched (uWSGI would try an app named by request variables, then the default
  // app): set when step 3 serves it, or refuses it under no-default-app.
  bool unmatched = false;
  bool refused = false;  // no-default-app: nothing matched and the default app may not serve
};

class Router {
 public:
  void set_manage_script_name(bool on) { manage_script_name_ = on; }
  bool manage_script_name() const { return manage_script_name_; }
  // uWSGI's `no-default-app`: a request no mount point matches is refused (Route::refused),
  // not served by the default app.
  void set_no_default_app(bool on) { no_default_app_ = on; }
  bool no_default_app() const { return no_default_app_; }
  // uWSGI's `vhost`: mounts are `host|/prefix` and match only requests for their host.
  void set_vhost(bool on) { vhost_ = on; }
  bool vhost() const { return vhost_; }

  // Records a mount claimed by `plugin`, with the app handle it gave. AlreadyExists, naming
  // both entries, when the point is mounted already.
  absl::Status Add(const MountEntry& mount, LoadedPlugin* plugin, void* app);
  void Clear() { mounts_.clear(); }
  // Mounts claimed (the root mount included).
  size_t size() const { return mounts_.size(); }

  // The choice uWSGI makes (core/protocol.c, core/utils.c), once:
  // 1. with manage-script-name, the longest mount point PATH_INFO equals or continues with
  //    '/' wins, and the split moves it into SCRIPT_NAME;
  // 2. else a SCRIPT_NAME (as a front end sends it; a trailing '/' ignored) equal to a mount
  //    point selects that mount, the variables unchanged;
  // 3. else `by_modifier1`, the plugin claiming the request's modifier1, serves it with its
  //    root mount's app if it claimed `/`, else its default app (null), variables unchanged.
  //    With no-default-app it does not: the request is refused, except where uWSGI's own
  //    app id still matches (a request without SCRIPT_NAME reaches the app the plugin's
  //    options name, which uWSGI mounts at ''; SCRIPT_NAME `/` reaches the root mount).
  // Under vhost, steps 1 and 2 consider only the mounts of `host` (ASCII case ignored), and
  // the root mount of step 2 is `host|`: uWSGI's app id HOST|SCRIPT_NAME. The caller picks
  // the host (SERVER_NAME, or the Host header under vhost-host).
  // `script_name` is null when the request has no SCRIPT_NAME.
  Route Resolve(std::optional<std::string_view> script_name, std::string_view path_info,
                LoadedPlugin* by_modifier1, std::string_view host = {}) const;

 private:
  struct Mount {
    std::string host;   // under vhost: the host it serves
    std::string point;  // "/" for the root mount
    std::string entry;  // as written, for messages
    LoadedPlugin* plugin;
    void* app;
  };
  std::vector<Mount> mounts_;
  bool manage_script_name_ = false;
  bool no_default_app_ = false;
  bool vhost_ = false;
};

}  // namespace kiln::plugin
