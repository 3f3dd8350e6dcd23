// Plugin search path and name-to-file rules (see search_path.h).
#include "core/plugin/search_path.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/build_info.h"

namespace kiln::plugin {
namespace {

constexpr std::string_view kSuffix = "_plugin.so";

void AddDir(std::vector<std::string>& dirs, std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  if (dir.empty() || std::find(dirs.begin(), dirs.end(), dir) != dirs.end()) {
    return;
  }
  dirs.push_back(std::move(dir));
}

std::string Parent(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    return ".";
  }
  return slash == 0 ? "/" : std::string(path.substr(0, slash));
}

}  // namespace

SearchPath SearchPath::Default(const std::vector<std::string>& plugin_dirs) {
  return ForBinary(plugin_dirs, SelfExe());
}

SearchPath SearchPath::ForBinary(const std::vector<std::string>& plugin_dirs,
                                 std::string_view exe) {
  SearchPath out;
  for (const std::string& d : plugin_dirs) {
    AddDir(out.dirs, d);
  }
  // One layout per binary: the build tree's plugins for a binary built there and run from
  // there, the prefix's plugin folder for an installed one. An installed kiln never looks in
  // the tree it was built in (that tree may be gone, or hold other plugins since).
  if (InBuildTree(exe, KILN_BUILD_DIR)) {
    AddDir(out.dirs, KILN_BUILD_PLUGIN_DIR);
  } else {
    AddDir(out.dirs, PluginDirForBinary(exe));
  }
  return out;
}

std::string PluginFileName(std::string_view name) {
  return std::string(name) + std::string(kSuffix);
}

bool IsPathLike(std::string_view name) {
  return name.find('/') != std::string_view::npos ||
         (name.size() > 3 && name.substr(name.size() - 3) == ".so");
}

std::vector<std::string> CandidatePaths(const SearchPath& path, std::string_view name) {
  if (IsPathLike(name)) {
    return {std::string(name)};
  }
  std::vector<std::string> out;
  for (const std::string& dir : path.dirs) {
    out.push_back(dir + "/" + PluginFileName(name));
  }
  return out;
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) {
    return "";
  }
  return std::string(buf, static_cast<size_t>(n));
}

bool InBuildTree(std::string_view exe, std::string_view build_dir) {
  // /proc/self/exe is already free of symlinks; the build directory CMake recorded may not be.
  std::string root(build_dir);
  if (char* real = ::realpath(root.c_str(), nullptr)) {
    root = real;
    ::free(real);
  }
  while (root.size() > 1 && root.back() == '/') {
    root.pop_back();
  }
  if (root.empty() || root == "/" || exe.size() <= root.size() + 1) {
    return false;
  }
  return exe.substr(0, root.size()) == root && exe[root.size()] == '/';
}

std::string InstallPluginDir() { return PluginDirForBinary(SelfExe()); }

std::string PluginDirForBinary(std::string_view exe) {
  if (exe.empty()) {
    return "";
  }
  std::string subdir = KILN_PLUGIN_INSTALL_SUBDIR;
  if (!subdir.empty() && subdir[0] == '/') {
    return subdir;
  }
  // <prefix>/bin/kiln -> <prefix>
  std::string prefix = Parent(Parent(exe));
  return prefix == "/" ? "/" + subdir : prefix + "/" + subdir;
}

std::vector<std::string> ListPluginFiles(const SearchPath& path) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& dir : path.dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      continue;
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view file = e->d_name;
      if (file.size() > kSuffix.size() && file.substr(file.size() - kSuffix.size()) == kSuffix) {
        names.emplace_back(file);
      }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (std::string& file : names) {
      if (seen.insert(file).second) {
        out.push_back(dir + "/" + file);
      }
    }
  }
  return out;
}

std::string NameFromFile(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (file.size() <= kSuffix.size() || file.substr(file.size() - kSuffix.size()) != kSuffix) {
    return "";
  }
  return std::string(file.substr(0, file.size() - kSuffix.size()));
}

bool AliasMatches(std::string_view alias, std::string_view name) {
  if (!alias.empty() && alias.back() == '*') {
    std::string_view prefix = alias.substr(0, alias.size() - 1);
    return name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix;
  }
  return alias == name;
}

}  // namespace kiln::plugin
