// Where plugins are looked for, and which file names a plugin name stands for. Pure apart
// from SelfExe/Default/InstallPluginDir (read /proc/self/exe), InBuildTree (resolves the build
// directory) and ListPluginFiles (reads directories).
// Knows nothing of dlopen or descriptors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::plugin {

struct SearchPath {
  // In order: each plugin-dir, then one folder for the running binary: the build tree's
  // plugin folder when the binary runs from the tree it was built in, otherwise
  // <prefix>/lib/kiln/plugins derived from the binary's path. No duplicates.
  std::vector<std::string> dirs;

  // For the running binary (/proc/self/exe).
  static SearchPath Default(const std::vector<std::string>& plugin_dirs);
  // For a binary at `exe` (an absolute path free of symlinks).
  static SearchPath ForBinary(const std::vector<std::string>& plugin_dirs, std::string_view exe);
};

// The running binary's path from /proc/self/exe; "" when the link cannot be read.
std::string SelfExe();

// True when `exe` lies below `build_dir` (the build tree this kiln was configured in).
bool InBuildTree(std::string_view exe, std::string_view build_dir);

// "python36" -> "python36_plugin.so".
std::string PluginFileName(std::string_view name);

// True for a name given as a path: it holds a '/' or ends in ".so".
bool IsPathLike(std::string_view name);

// The files `name` may be, in search order: the path itself for a path-like name, otherwise
// <dir>/<name>_plugin.so for each directory.
std::vector<std::string> CandidatePaths(const SearchPath& path, std::string_view name);

// <prefix>/lib/kiln/plugins for the binary at /proc/self/exe (<prefix>/bin/kiln); "" when
// the link cannot be read.
std::string InstallPluginDir();
// The same for a binary at `exe`; "" for an empty path.
std::string PluginDirForBinary(std::string_view exe);

// Every <dir>/*_plugin.so in search order; of two files with the same name the first wins.
std::vector<std::string> ListPluginFiles(const SearchPath& path);

// The plugin name a file stands for: "/x/python_plugin.so" -> "python"; "" if the file name
// does not end in "_plugin.so".
std::string NameFromFile(std::string_view path);

// Whether `name` matches one alias: exactly, or by prefix for an alias ending in '*'
// ("python3*" matches "python36", "python311", not "python3" itself nor "python").
bool AliasMatches(std::string_view alias, std::string_view name);

}  // namespace kiln::plugin
