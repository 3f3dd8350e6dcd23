// One WSAPI call: the environment from the request's variables, the app's (status, headers,
// body iterator), checked and turned into host response calls. Runtime only; the options and
// the choice of app are the caller's.
#pragma once

#include "kiln/kiln.h"
#include "mounts.h"
#include "state.h"

namespace kiln::lua {

// Fills `cache` in a new state: references to the request path's C functions, key strings and
// header anchor table. Raises a Lua error on allocation failure (call it protected).
void RegisterWsapiCall(lua_State* L, CallCache* cache);

// Serves request `r` with app `app` of `state` (which must be the calling thread's state),
// the one kiln routed it to (SCRIPT_NAME and PATH_INFO as kiln split them). RETURNS: KILN_OK when answered; KILN_ERROR with a message set through
// host.SetError (the method and URI, the app's file, what went wrong and, for Lua errors,
// the traceback) when the app failed, returned a bad status, bad headers or a non-string
// body chunk, or when the client went away. The host answers 500 if nothing was sent yet; the
// response starts only once the first body chunk is in hand, so any failure up to there is a
// clean 500.
kiln_status ServeWsapi(LuaState& state, const Host& host, kiln_request* r, const AppSpec& app,
                       size_t app_index);

}  // namespace kiln::lua
