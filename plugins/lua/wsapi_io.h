// The two streams of a WSAPI environment: wsapi_env.input (the request body, read through the
// host in pieces) and wsapi_env.error (lines to the server log).
#pragma once

#include "kiln/kiln.h"
#include "lua.hpp"

namespace kiln::lua {

struct Host;
struct InputStream;

// Registers the input metatable and the shared error stream in a new state. Raises a Lua error
// on allocation failure (call it protected).
void RegisterWsapiIo(lua_State* L, const Host* host);

// Pushes a new wsapi_env.input bound to request `r`. read(n) gives up to n bytes (fewer only at
// the end of the body) and nil at the end; read() and read("*a") the rest of the body;
// read("*l") a line without its newline ("*L" keeps it). Raises a Lua error when the host
// cannot read the body (client gone, timeout, malformed body). Call it protected.
InputStream* PushInput(lua_State* L, const Host* host, kiln_request* r);

// Detaches the stream from its request once on_request is over: a reference the app kept
// raises an error instead of touching a finished request.
void CloseInput(InputStream* in);

// Pushes the state's wsapi_env.error: error:write(...) logs each call as one error line,
// error:flush() does nothing.
void PushErrorStream(lua_State* L);

}  // namespace kiln::lua
