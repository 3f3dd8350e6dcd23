/* Floor backend for a Lua WSAPI app over direct HTTP: floor_http's system calls (epoll, one
 * read and one send per keep-alive request; floor_http_loop.c) plus a plain embedded-LuaJIT
 * call of a WSAPI app: a wsapi_env table per request (the request line's CGI variables, an
 * HTTP_* entry per header, SCRIPT_NAME and CONTENT_TYPE defaulting to "", input and error),
 * the app's call, its headers table walked with lua_next, its body function called until it
 * returns nil, and the head and the body sent together. Row 6's reference for what the Lua
 * call itself costs on this machine, as floor_wsgi is row 1's for Python. What it leaves out,
 * so that it stays a floor rather than a server:
 *   - no error handling beyond dropping the connection (an error is printed);
 *   - input and error are the same two empty tables for every request (request bodies are
 *     dropped, as floor_http does); SERVER_NAME, SERVER_PORT and REMOTE_ADDR are fixed;
 *   - no header or status validation, no framing of its own (the app sets Content-Length);
 *   - no log, no forced collection: LuaJIT's incremental collector runs as it chooses (kiln's
 *     plugin also runs a full collection every `lua-gc-freq` requests, 100 by default).
 * Usage: floor_lua -l host:port [-w workers] FILE.lua   (FILE.lua returns the app function) */
#define _GNU_SOURCE
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "floor_common.h"
#include "floor_http_loop.h"

static lua_State *g_L;
static int g_app_ref, g_input_ref, g_error_ref;

/* Sets env[key] = value, both given by their bytes (the table is at the top of the stack). */
static void set_field(lua_State *L, const char *key, size_t key_len, const char *value,
                      size_t value_len) {
  lua_pushlstring(L, key, key_len);
  lua_pushlstring(L, value, value_len);
  lua_rawset(L, -3);
}

#define SET_LITERAL(L, key, value, len) set_field(L, key, sizeof(key) - 1, value, len)

/* Pushes the wsapi_env of the request head [p, end); 0, or -1 when the head is malformed. */
static int push_env(lua_State *L, const char *p, const char *end) {
  const char *line_end = memmem(p, (size_t)(end - p), "\r\n", 2);
  const char *sp1 = line_end ? memchr(p, ' ', (size_t)(line_end - p)) : NULL;
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
  if (sp2 == NULL) return -1;
  const char *target = sp1 + 1;
  const char *query = memchr(target, '?', (size_t)(sp2 - target));
  const char *path_end = query ? query : sp2;
  lua_createtable(L, 0, 16);
  SET_LITERAL(L, "REQUEST_METHOD", p, (size_t)(sp1 - p));
  SET_LITERAL(L, "REQUEST_URI", target, (size_t)(sp2 - target));
  SET_LITERAL(L, "PATH_INFO", target, (size_t)(path_end - target));
  SET_LITERAL(L, "QUERY_STRING", query ? query + 1 : "", query ? (size_t)(sp2 - query - 1) : 0);
  SET_LITERAL(L, "SERVER_PROTOCOL", sp2 + 1, (size_t)(line_end - sp2 - 1));
  SET_LITERAL(L, "SCRIPT_NAME", "", 0);
  SET_LITERAL(L, "CONTENT_TYPE", "", 0);
  SET_LITERAL(L, "SERVER_NAME", "127.0.0.1", 9);
  SET_LITERAL(L, "SERVER_PORT", "80", 2);
  SET_LITERAL(L, "REMOTE_ADDR", "127.0.0.1", 9);
  char key[128];
  for (p = line_end + 2; p < end - 2;) {
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    const char *colon = eol ? memchr(p, ':', (size_t)(eol - p)) : NULL;
    if (colon == NULL) return -1;
    size_t name_len = (size_t)(colon - p);
    const char *value = colon + 1;
    while (value < eol && (*value == ' ' || *value == '\t')) ++value;
    size_t key_len;
    if (name_len == 12 && strncasecmp(p, "content-type", 12) == 0) {
      memcpy(key, "CONTENT_TYPE", 12);
      key_len = 12;
    } else if (name_len == 14 && strncasecmp(p, "content-length", 14) == 0) {
      memcpy(key, "CONTENT_LENGTH", 14);
      key_len = 14;
    } else {
      if (name_len + 5 > sizeof key) return -1;
      memcpy(key, "HTTP_", 5);
      for (size_t i = 0; i < name_len; ++i) {
        char ch = p[i];
        key[5 + i] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
      }
      key_len = name_len + 5;
    }
    set_field(L, key, key_len, value, (size_t)(eol - value));
    p = eol + 2;
  }
  lua_pushliteral(L, "input");
  lua_rawgeti(L, LUA_REGISTRYINDEX, g_input_ref);
  lua_rawset(L, -3);
  lua_pushliteral(L, "error");
  lua_rawgeti(L, LUA_REGISTRYINDEX, g_error_ref);
  lua_rawset(L, -3);
  return 0;
}

/* Appends [s, s + n) to the answer; -1 when it does not fit. */
static int put(char *out, size_t size, size_t *used, const char *s, size_t n) {
  if (*used + n > size) return -1;
  memcpy(out + *used, s, n);
  *used += n;
  return 0;
}

/* Appends "name: value\r\n" for the value at the top of the stack (a string or a number). */
static int put_header(lua_State *L, const char *name, size_t name_len, char *out, size_t size,
                      size_t *used) {
  size_t value_len = 0;
  const char *value = lua_tolstring(L, -1, &value_len);
  if (value == NULL) return -1;
  return put(out, size, used, name, name_len) | put(out, size, used, ": ", 2) |
         put(out, size, used, value, value_len) | put(out, size, used, "\r\n", 2);
}

/* Calls the app for one request head; the response goes into scratch. */
static const char *lua_answer(const char *head, size_t head_len, int close_after, char *scratch,
                              size_t scratch_size, size_t *len) {
  lua_State *L = g_L;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, g_app_ref);
  if (push_env(L, head, head + head_len) != 0) return NULL;
  if (lua_pcall(L, 1, 3, 0) != 0) {
    fprintf(stderr, "floor_lua: %s\n", lua_tostring(L, -1));
    return NULL;
  }
  size_t used = 0;
  int bad = put(scratch, scratch_size, &used, "HTTP/1.1 ", 9);
  int numeric = lua_type(L, 1) == LUA_TNUMBER;  /* 200, or "200 OK" */
  size_t status_len = 0;
  const char *status = lua_tolstring(L, 1, &status_len);  /* converts a number in place */
  if (status == NULL) return NULL;
  bad |= put(scratch, scratch_size, &used, status, status_len);
  if (numeric) bad |= put(scratch, scratch_size, &used, " OK", 3);
  bad |= put(scratch, scratch_size, &used, "\r\n", 2);
  if (!lua_istable(L, 2)) return NULL;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    size_t name_len = 0;
    const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &name_len) : NULL;
    if (name == NULL) return NULL;
    if (lua_istable(L, -1)) {  /* several values: a line each */
      for (int i = 1;; ++i) {
        lua_rawgeti(L, -1, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        bad |= put_header(L, name, name_len, scratch, scratch_size, &used);
        lua_pop(L, 1);
      }
    } else {
      bad |= put_header(L, name, name_len, scratch, scratch_size, &used);
    }
    lua_pop(L, 1);
  }
  if (close_after) bad |= put(scratch, scratch_size, &used, "Connection: close\r\n", 19);
  bad |= put(scratch, scratch_size, &used, "\r\n", 2);
  for (;;) {  /* the body: call the iterator until it returns nil */
    lua_pushvalue(L, 3);
    if (lua_pcall(L, 0, 1, 0) != 0) {
      fprintf(stderr, "floor_lua: %s\n", lua_tostring(L, -1));
      return NULL;
    }
    if (lua_isnil(L, -1)) break;
    size_t chunk_len = 0;
    const char *chunk = lua_tolstring(L, -1, &chunk_len);
    if (chunk == NULL) return NULL;
    bad |= put(scratch, scratch_size, &used, chunk, chunk_len);
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  if (bad) return NULL;
  *len = used;
  return scratch;
}

int main(int argc, char **argv) {
  const char *addr;
  int workers;
  const char *file = floor_parse_app_args(argc, argv, &addr, &workers, "FILE.lua");
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  luaL_openlibs(L);
  if (luaL_dofile(L, file) != 0 || !lua_isfunction(L, -1)) {
    fprintf(stderr, "floor_lua: cannot load %s: %s\n", file,
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "it returns no function");
    return 1;
  }
  g_app_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  g_input_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  g_error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  g_L = L;
  int lfd = floor_listen(addr, 1);
  floor_fork_workers(workers);
  floor_http_serve(lfd, lua_answer);
}
