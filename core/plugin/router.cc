// The mount table and the per-request routing decision (see router.h): pure functions over
// strings, so every case uWSGI's own tests check is a unit test here.
#include "core/plugin/router.h"

#include "absl/strings/str_format.h"

namespace kiln::plugin {
namespace {

// Whether `path` is `point` or continues it after a '/'.
bool UnderMount(std::string_view path, std::string_view point) {
  return path.starts_with(point) && (path.size() == point.size() || path[point.size()] == '/');
}

}  // namespace

absl::StatusOr<MountEntry> ParseMountEntry(std::string_view entry) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos || eq == 0 || entry[0] != '/' || eq + 1 == entry.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mount `%s`: expected `/prefix=target` (a module:callable, a .py or .lua file)", entry));
  }
  MountEntry m{std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1))};
  while (m.point.size() > 1 && m.point.back() == '/') m.point.pop_back();
  return m;
}

absl::Status Router::Add(const MountEntry& mount, LoadedPlugin* plugin, void* app) {
  std::string entry = absl::StrCat(mount.point, "=", mount.target);
  for (const Mount& m : mounts_) {
    if (m.point == mount.point) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "mount `%s`: %s is already mounted (`%s`); give each app its own mount point", entry,
          mount.point, m.entry));
    }
  }
  mounts_.push_back(Mount{mount.point, std::move(entry), plugin, app});
  return absl::OkStatus();
}

Route Router::Resolve(std::optional<std::string_view> script_name, std::string_view path_info,
                      LoadedPlugin* by_modifier1) const {
  if (manage_script_name_) {
    const Mount* best = nullptr;
    for (const Mount& m : mounts_) {
      if (m.point != "/" && UnderMount(path_info, m.point) &&
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
  if (!given.empty()) {
    for (const Mount& m : mounts_) {
      if (m.point == given) return Route{m.plugin, m.app, true, false, {}, {}};
    }
  }
  Route route;
  route.plugin = by_modifier1;
  for (const Mount& m : mounts_) {
    if (m.point == "/" && m.plugin == by_modifier1 && by_modifier1 != nullptr) route.app = m.app;
  }
  return route;
}

}  // namespace kiln::plugin
