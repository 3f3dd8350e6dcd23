// Which Lua application answers a request: the apps named by `lua` (the default app) and by
// `mount = /path=app.lua`, and the choice by mount point (longest prefix on a '/' boundary).
// Pure: strings in, decisions out. Knows nothing of Lua or of the host.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::lua {

// One application: its mount point ("" for the default app, else "/path" without a trailing
// slash) and the script that returns the WSAPI function.
struct AppSpec {
  std::string mountpoint;
  std::string file;
  std::string option = "lua";  // the option that named it, for messages
};

enum class MountParse { kNotOurs, kOurs, kInvalid };

// Reads one `mount` value ("/path=app.lua"). A value whose target does not end in ".lua" is
// another plugin's (kNotOurs). For kOurs, *out is filled; for kInvalid, *error says what is
// wrong ("the mount point `x` must start with '/'").
MountParse ParseMount(std::string_view value, AppSpec* out, std::string* error);

// The outcome of routing: which app, and the SCRIPT_NAME / PATH_INFO it should see.
struct Route {
  size_t app = 0;
  std::string_view script_name;
  std::string_view path_info;
};

// Picks the app for a request. A SCRIPT_NAME that equals a mount point (as nginx's
// `uwsgi_param SCRIPT_NAME` sends it) selects that app and leaves both variables alone.
// Otherwise the longest mount point that PATH_INFO equals or continues with '/' wins and moves
// from PATH_INFO to SCRIPT_NAME. Otherwise the default app, if any, gets the request
// unchanged. nullopt when no app matches. The views point into the arguments or into `apps`.
std::optional<Route> SelectApp(const std::vector<AppSpec>& apps, std::string_view script_name,
                               std::string_view path_info);

// The directory part of a script path ("." for a bare file name), for APP_PATH and
// package.path.
std::string DirName(std::string_view path);

}  // namespace kiln::lua
