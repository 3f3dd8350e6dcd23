// Mount values and request routing for the lua plugin: pure functions over strings.
#include "mounts.h"

namespace kiln::lua {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Whether `path` is `mount` or continues it after a '/'.
bool UnderMount(std::string_view path, std::string_view mount) {
  if (path.size() < mount.size() || path.substr(0, mount.size()) != mount) {
    return false;
  }
  return path.size() == mount.size() || path[mount.size()] == '/';
}

}  // namespace

MountParse ParseMount(std::string_view value, AppSpec* out, std::string* error) {
  size_t eq = value.find('=');
  if (eq == std::string_view::npos) {
    return MountParse::kNotOurs;
  }
  std::string_view mount = Trim(value.substr(0, eq));
  std::string_view target = Trim(value.substr(eq + 1));
  if (!EndsWith(target, ".lua")) {
    return MountParse::kNotOurs;
  }
  if (mount.empty() || mount.front() != '/') {
    *error = "the mount point `" + std::string(mount) +
             "` must start with '/' (write mount = /path=" + std::string(target) + ")";
    return MountParse::kInvalid;
  }
  while (!mount.empty() && mount.back() == '/') {
    mount.remove_suffix(1);
  }
  out->mountpoint = std::string(mount);
  out->file = std::string(target);
  out->option = "mount";
  return MountParse::kOurs;
}

std::optional<Route> SelectApp(const std::vector<AppSpec>& apps, std::string_view script_name,
                               std::string_view path_info) {
  std::optional<size_t> default_app;
  if (!script_name.empty()) {
    std::string_view given = script_name;
    while (!given.empty() && given.back() == '/') {
      given.remove_suffix(1);
    }
    for (size_t i = 0; i < apps.size(); ++i) {
      if (!apps[i].mountpoint.empty() && apps[i].mountpoint == given) {
        return Route{i, script_name, path_info};
      }
    }
  }
  std::optional<size_t> best;
  for (size_t i = 0; i < apps.size(); ++i) {
    const std::string& m = apps[i].mountpoint;
    if (m.empty()) {
      if (!default_app) {
        default_app = i;
      }
      continue;
    }
    if (UnderMount(path_info, m) && (!best || m.size() > apps[*best].mountpoint.size())) {
      best = i;
    }
  }
  if (best) {
    std::string_view mount = apps[*best].mountpoint;
    return Route{*best, mount, path_info.substr(mount.size())};
  }
  if (default_app) {
    return Route{*default_app, script_name, path_info};
  }
  return std::nullopt;
}

std::string DirName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return std::string(path.substr(0, slash));
}

}  // namespace kiln::lua
