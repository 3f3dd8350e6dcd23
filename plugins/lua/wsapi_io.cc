// wsapi_env.input over the host's request_body_read, with a small read-ahead buffer for line
// reads, and wsapi_env.error over the host log. Lua C functions only: no C++ object with a
// destructor is alive where a Lua error can be raised.
#include "wsapi_io.h"

#include <cstring>

#include "state.h"

namespace kiln::lua {

struct InputStream {
  const kiln_host_api* api;
  kiln_request* r;  // nullptr once the request is over
  bool eof;
  size_t pos;
  size_t len;
  char* buf;  // kInputBufferSize bytes, the state's; touched only while r is set
};

namespace {

constexpr const char* kInputMeta = "kiln.wsapi.input";

InputStream* CheckInput(lua_State* L) {
  auto* in = static_cast<InputStream*>(luaL_checkudata(L, 1, kInputMeta));
  if (in->r == nullptr) {
    luaL_error(L, "wsapi_env.input: the request it belongs to is over");
  }
  return in;
}

// Reads the next piece of the body into dst (at most cap bytes). Returns the count, 0 at the
// end of the body.
size_t ReadHost(lua_State* L, InputStream* in, char* dst, size_t cap) {
  if (in->eof) {
    return 0;
  }
  size_t n = 0;
  if (in->api->request_body_read(in->r, dst, cap, &n) != KILN_OK) {
    luaL_error(L,
               "wsapi_env.input:read: the request body could not be read (the client went "
               "away, timed out or sent a malformed body)");
  }
  if (n == 0) {
    in->eof = true;
  }
  return n;
}

bool Refill(lua_State* L, InputStream* in) {
  in->pos = 0;
  in->len = ReadHost(L, in, in->buf, kInputBufferSize);
  return in->len > 0;
}

// Pushes up to `want` bytes (all that is left when want is SIZE_MAX). Returns the count.
size_t PushBytes(lua_State* L, InputStream* in, size_t want) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t got = 0;
  while (got < want) {
    if (in->pos < in->len) {
      size_t take = in->len - in->pos;
      if (take > want - got) {
        take = want - got;
      }
      luaL_addlstring(&b, in->buf + in->pos, take);
      in->pos += take;
      got += take;
      continue;
    }
    if (want - got >= LUAL_BUFFERSIZE) {
      // Large reads go straight into the Lua buffer, without the read-ahead copy.
      char* dst = luaL_prepbuffer(&b);
      size_t n = ReadHost(L, in, dst, LUAL_BUFFERSIZE);
      if (n == 0) {
        break;
      }
      luaL_addsize(&b, n);
      got += n;
      continue;
    }
    if (!Refill(L, in)) {
      break;
    }
  }
  luaL_pushresult(&b);
  return got;
}

// Pushes one line (keep_newline as "*L"); returns false at the end of the body.
bool PushLine(lua_State* L, InputStream* in, bool keep_newline) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  bool any = false;
  for (;;) {
    if (in->pos == in->len && !Refill(L, in)) {
      break;
    }
    any = true;
    const char* start = in->buf + in->pos;
    const void* nl = std::memchr(start, '\n', in->len - in->pos);
    if (nl != nullptr) {
      size_t upto = static_cast<size_t>(static_cast<const char*>(nl) - start);
      luaL_addlstring(&b, start, keep_newline ? upto + 1 : upto);
      in->pos += upto + 1;
      break;
    }
    luaL_addlstring(&b, start, in->len - in->pos);
    in->pos = in->len;
  }
  luaL_pushresult(&b);
  return any;
}

int InputRead(lua_State* L) {
  InputStream* in = CheckInput(L);
  if (lua_isnoneornil(L, 2)) {
    return PushBytes(L, in, SIZE_MAX) > 0 ? 1 : 0;
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, 2);
    if (n < 0) {
      return luaL_argerror(L, 2, "a byte count must not be negative");
    }
    if (n == 0) {
      bool more = in->pos < in->len || Refill(L, in);
      if (!more) {
        return 0;
      }
      lua_pushliteral(L, "");
      return 1;
    }
    size_t want = n >= 9.0e18 ? SIZE_MAX : static_cast<size_t>(n);
    if (PushBytes(L, in, want) == 0) {
      lua_pushnil(L);
    }
    return 1;
  }
  const char* fmt = luaL_checkstring(L, 2);
  if (fmt[0] == '*') {
    ++fmt;
  }
  switch (fmt[0]) {
    case 'a':
      PushBytes(L, in, SIZE_MAX);
      return 1;
    case 'l':
    case 'L':
      if (!PushLine(L, in, fmt[0] == 'L')) {
        lua_pushnil(L);
      }
      return 1;
    default:
      return luaL_argerror(L, 2, "expected a byte count, \"*a\", \"*l\" or \"*L\"");
  }
}

int InputToString(lua_State* L) {
  auto* in = static_cast<InputStream*>(luaL_checkudata(L, 1, kInputMeta));
  lua_pushstring(L, in->r != nullptr ? "wsapi input" : "wsapi input (closed)");
  return 1;
}

// error:write(...): each argument tostring'd, concatenated, logged as one error line.
int ErrorWrite(lua_State* L) {
  const auto* host = static_cast<const Host*>(lua_touserdata(L, lua_upvalueindex(1)));
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 2; i <= n; ++i) {
    if (lua_type(L, i) != LUA_TSTRING && lua_type(L, i) != LUA_TNUMBER) {
      return luaL_argerror(L, i, "expected a string");
    }
    lua_pushvalue(L, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len = 0;
  const char* msg = lua_tolstring(L, -1, &len);
  if (len > 0) {
    host->Log(KILN_LOG_ERROR, std::string_view(msg, len));
  }
  lua_settop(L, 1);
  return 1;
}

int ErrorFlush(lua_State* L) {
  lua_settop(L, 1);
  return 1;
}

}  // namespace

void RegisterWsapiIo(lua_State* L, const Host* host, IoRefs* refs) {
  static const luaL_Reg kInputMethods[] = {{"read", InputRead}, {nullptr, nullptr}};
  luaL_newmetatable(L, kInputMeta);  // by name too, for luaL_checkudata
  lua_newtable(L);
  luaL_setfuncs(L, kInputMethods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, InputToString);
  lua_setfield(L, -2, "__tostring");
  refs->input_meta = luaL_ref(L, LUA_REGISTRYINDEX);

  static const luaL_Reg kErrorMethods[] = {
      {"write", ErrorWrite}, {"flush", ErrorFlush}, {nullptr, nullptr}};
  lua_newtable(L);
  lua_pushlightuserdata(L, const_cast<Host*>(host));
  luaL_setfuncs(L, kErrorMethods, 1);
  refs->error_stream = luaL_ref(L, LUA_REGISTRYINDEX);
}

InputStream* PushInput(lua_State* L, const IoRefs& refs, const Host* host, kiln_request* r,
                       char* buf) {
  auto* in = static_cast<InputStream*>(lua_newuserdata(L, sizeof(InputStream)));
  in->api = host->api;
  in->r = r;
  in->eof = false;
  in->pos = 0;
  in->len = 0;
  in->buf = buf;
  lua_rawgeti(L, LUA_REGISTRYINDEX, refs.input_meta);
  lua_setmetatable(L, -2);
  return in;
}

void CloseInput(InputStream* in) {
  if (in != nullptr) {
    in->r = nullptr;
  }
}

void PushErrorStream(lua_State* L, const IoRefs& refs) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, refs.error_stream);
}

}  // namespace kiln::lua
