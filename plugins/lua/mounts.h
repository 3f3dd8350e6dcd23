// The Lua applications: the one named by `lua` (the default app) and those of the `mount`
// entries kiln offers (`/path=app.lua`), and the handles kiln routes requests back with.
// Pure: strings in, decisions out. Knows nothing of Lua or of the host; kiln does the routing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::lua {

// One application: its mount point ("" for the default app or the root mount `/`, else
// "/path" as kiln checked it) and the script that returns the WSAPI function.
struct AppSpec {
  std::string mountpoint;
  std::string file;
  std::string option = "lua";  // the option that named it, for messages
};

// Whether a mount target is a Lua app (ends in ".lua"); another plugin's otherwise.
bool IsLuaTarget(std::string_view target);

// The app handle given to kiln for app `index` of the plugin's list, and back: the index a
// request routed with `handle` goes to. A null handle (kiln's "your default app") gives the
// app mounted at "" if there is one, else nullopt.
void* AppHandle(size_t index);
std::optional<size_t> AppForHandle(const std::vector<AppSpec>& apps, void* handle);

// The directory part of a script path ("." for a bare file name), for APP_PATH and
// package.path.
std::string DirName(std::string_view path);

}  // namespace kiln::lua
