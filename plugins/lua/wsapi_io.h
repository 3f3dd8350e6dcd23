// The two streams of a WSAPI environment: wsapi_env.input (the request body, read through the
// host in pieces) and wsapi_env.error (lines to the server log).
#pragma once

#include "kiln/kiln.h"
#include "lua.hpp"

namespace kiln::lua {

struct Host;
struct InputStream;

// The read-ahead buffer of wsapi_env.input. One per state, lent to each request's input in
// turn (a state serves one request at a time, and an input is closed when its request ends),
// so the input object itself stays small.
constexpr size_t kInputBufferSize = 8192;

// Registry references of what every request's streams use, so the request path looks nothing
// up by name.
struct IoRefs {
  int input_meta = LUA_NOREF;    // the metatable of wsapi_env.input
  int error_stream = LUA_NOREF;  // the shared wsapi_env.error
};

// Registers the input metatable and the shared error stream in a new state and fills *refs.
// Raises a Lua error on allocation failure (call it protected).
void RegisterWsapiIo(lua_State* L, const Host* host, IoRefs* refs);

// Pushes a new wsapi_env.input bound to request `r`, reading ahead into `buf`
// (kInputBufferSize bytes, which the caller keeps until CloseInput). read(n) gives up to n
// bytes (fewer only at the end of the body) and nil at the end; read() and read("*a") the rest
// of the body; read("*l") a line without its newline ("*L" keeps it). Raises a Lua error when
// the host cannot read the body (client gone, timeout, malformed body). Call it protected.
InputStream* PushInput(lua_State* L, const IoRefs& refs, const Host* host, kiln_request* r,
                       char* buf);

// Detaches the stream from its request once on_request is over: a reference the app kept
// raises an error instead of touching a finished request.
void CloseInput(InputStream* in);

// Pushes the state's wsapi_env.error: error:write(...) logs each call as one error line,
// error:flush() does nothing.
void PushErrorStream(lua_State* L, const IoRefs& refs);

}  // namespace kiln::lua
