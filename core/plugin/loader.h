// Opens a plugin file and reads its descriptor: dlopen(RTLD_NOW|RTLD_LOCAL|RTLD_NODELETE),
// RTLD_GLOBAL only for a plugin that asks, and the query symbol. Never dlclose()s: a runtime
// (libpython, liblua) cannot be unloaded safely. Runs no plugin code but the query function.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kiln/plugin.h"

namespace kiln::plugin {

struct OpenedLibrary {
  std::string path;      // as opened
  std::string realpath;  // canonical, for "same file loaded twice"
  void* handle = nullptr;
  const kiln_plugin_desc* desc = nullptr;  // not yet validated
};

// NotFound when the file does not exist; FailedPrecondition when it is not a kiln plugin
// ("... is not a kiln plugin (no symbol kiln_plugin_query_v1): <dlerror>"), when it is a uWSGI
// plugin (its own message), or when dlopen fails (the dlerror text).
absl::StatusOr<OpenedLibrary> OpenLibrary(const std::string& path);

// Re-opens an opened library with RTLD_GLOBAL (RTLD_NOLOAD promotes it in place).
absl::Status PromoteToGlobal(const OpenedLibrary& lib);

// Pure: whether file bytes look like a uWSGI plugin named `stem` ("python311_plugin"): its
// dynamic string table holds the NUL-delimited symbol `stem` and the text "uwsgi".
bool LooksLikeUwsgiPlugin(std::string_view bytes, std::string_view stem);

// "python311_plugin" -> "python": the kiln plugin name a uWSGI plugin stem suggests.
std::string KilnNameForUwsgiStem(std::string_view stem);

}  // namespace kiln::plugin
