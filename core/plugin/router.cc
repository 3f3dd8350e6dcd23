// The mount table and the per-request routing decision (see router.h): pure functions over
// strings, so every case uWSGI's own tests check is a unit test here.
#include "core/plugin/router.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::plugin {
namespace {

// Whether `path` is `point` or continues it after a '/'.
bool UnderMount(std::string_view path, std::string_view point) {
  return path.starts_with(point) && (path.size() == point.size() || path[point.size()] == '/');
}

// Host names compare without ASCII case (as DNS and nginx's server_name do).
bool SameHost(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<MountEntry> ParseMountEntry(std::string_view entry, bool vhost) {
  size_t eq = entry.find('=');
  std::string_view before = entry.substr(0, eq);  // all of it when there is no '='
  size_t bar = before.find('|');
  MountEntry m;
  std::string_view point = before;
  if (vhost) {
    // uWSGI's app id is HOST|SCRIPT_NAME: a mount without its host could never match.
    if (eq == std::string_view::npos || bar == std::string_view::npos || bar == 0 ||
        eq + 1 == entry.size() || (bar + 1 < eq && entry[bar + 1] != '/')) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "mount `%s`: under `vhost` a mount names its host: `host|/prefix=target` "
          "(`host|=target` for the host's root)",
          entry));
    }
    m.host = std::string(before.substr(0, bar));
    point = before.substr(bar + 1);
    if (point.empty()) point = "/";
  } else if (eq == std::string_view::npos || eq == 0 || entry[0] != '/' ||
             eq + 1 == entry.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mount `%s`: expected `/prefix=target` (a module:callable, a .py or .lua file)%s", entry,
        bar != std::string_view::npos ? "; `host|/prefix` mounts need `vhost = true`" : ""));
  }
  m.point = std::string(point);
  m.target = std::string(entry.substr(eq + 1));
  while (m.point.size() > 1 && m.point.back() == '/') m.point.pop_back();
  return m;
}

std::string MountPointName(const MountEntry& mount) {
  if (mount.host.empty()) return mount.point;
  return absl::StrCat(mount.host, "|", mount.point == "/" ? "" : mount.point);
}

absl::Status Router::Add(const MountEntry& mount, LoadedPlugin* plugin, void* app) {
  std::string name = MountPointName(mount);
  std::string entry = absl::StrCat(name, "=", mount.target);
  for (const Mount& m : mounts_) {
    if (m.point == mount.point && SameHost(m.host, mount.host)) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "mount `%s`: %s is already mounted (`%s`); give each app its own mount point", entry,
          name, m.entry));
    }
  }
  mounts_.push_back(Mount{mount.host, mount.point, std::move(entry), plugin, app});
  return absl::OkStatus();
}

Route Router::Resolve(std::optional<std::string_view> script_name, std::string_view path_info,
                      LoadedPlugin* by_modifier1, std::string_view host) const {
  // Under vhost only the request's host's mounts count (host names ignore ASCII case).
  auto here = [&](const Mount& m) { return !vhost_ || SameHost(m.host, host); };
  if (manage_script_name_) {
    const Mount* best = nullptr;
    for (const Mount& m : mounts_) {
      if (m.point != "/" && here(m) && UnderMount(path_info, m.point) &&
          (best == nullptr || m.point.size() > best->point.size())) {
        best = &m;
      }
    }
    if (best != nullptr) {
      return Route{best->plugin, best->app, true, true, best->point,
                   path_info.substr(best->point.size())};
    }
  }
  std::string_view given = script_name.value_or("");
  while (!given.empty() && given.back() == '/') given.remove_suffix(1);
  if (!given.empty() || vhost_) {
    std::string_view want = given.empty() ? "/" : given;  // vhost: `host|` is the host's root
    for (const Mount& m : mounts_) {
      if (m.point == want && here(m)) return Route{m.plugin, m.app, true, false, {}, {}};
    }
  }
  Route route;
  route.plugin = by_modifier1;
  const Mount* root = nullptr;
  for (const Mount& m : mounts_) {
    if (m.point == "/" && m.host.empty() && m.plugin == by_modifier1 && by_modifier1 != nullptr) {
      root = &m;
    }
  }
  // uWSGI (core/utils.c uwsgi_get_app_id) matches the app id exactly before it falls back:
  // the app the plugin's options name is mounted at '', the root mount at '/'; under vhost
  // the id always starts with the host, so neither matches.
  route.unmatched = vhost_ || (root != nullptr ? script_name != "/"
                                               : !script_name.value_or("").empty());
  if (no_default_app_ && by_modifier1 != nullptr && route.unmatched) {
    route.plugin = nullptr;
    route.refused = true;
    return route;
  }
  if (root != nullptr) route.app = root->app;
  return route;
}

}  // namespace kiln::plugin
