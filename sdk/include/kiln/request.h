/* SPDX-License-Identifier: MIT */
/* kiln plugin SDK: types used by the request functions of the host table (variable visitors,
 * modifier numbers) and small inline helpers over them. The functions themselves are members
 * of kiln_host_api (host.h), so a plugin never links against the host. */
#ifndef KILN_REQUEST_H
#define KILN_REQUEST_H

#include "kiln/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * kiln_var_visitor receives one CGI variable of a request during request_var_each.
 * OWNERSHIP: host; name and value stay valid until on_request returns.
 * THREADS: the thread running on_request.
 * SINCE: 1.0.  RETURNS: 0 to continue, non-zero to stop the iteration.
 */
typedef int (*kiln_var_visitor)(void *arg, kiln_str name, kiln_str value);

/**
 * kiln_modifiers are the two uwsgi packet modifiers of a request (0 and 0 for HTTP).
 * modifier1 selects the handler plugin (0: WSGI, 6: Lua/WSAPI, as nginx's uwsgi_modifier1).
 * SINCE: 1.0.
 */
typedef struct kiln_modifiers {
  uint8_t modifier1;
  uint8_t modifier2;
} kiln_modifiers;

/**
 * kiln_async_event_kind: what on_async_event reports about a detached request.
 * KILN_ASYNC_BODY: a piece of the body the plugin asked for with async_body_request (`data`,
 * `more` 0 on the last, possibly empty, piece).
 * KILN_ASYNC_DISCONNECT: the client went away or its body could not be read; what the plugin
 * writes from now on is dropped, and it still calls async_finish. At most once.
 * KILN_ASYNC_DRAINED: every response byte queued so far was handed to the kernel (`sent`: the
 * total). Reported only after at least KILN_ASYNC_DRAIN_BYTES since the last report, so a
 * writer that waits for it once it has queued that many bytes bounds its memory.
 * For a WebSocket (websocket_detach), answering async_ws_receive, once each:
 * KILN_ASYNC_WS_TEXT, KILN_ASYNC_WS_BINARY: one whole message (`data`), its fragments joined;
 * text has been checked to be UTF-8.
 * KILN_ASYNC_WS_CLOSE: the connection is closing with `code` and the UTF-8 `data` as reason:
 * the client's close frame (1005: it had no code), or the close the host sent because the
 * client broke the protocol (1002, 1007, 1009). Nothing more arrives; at most once, never after
 * KILN_ASYNC_DISCONNECT (which, for a WebSocket, means it went away without a close: 1006).
 * SINCE: 1.3; the KILN_ASYNC_WS_* kinds since 1.4.
 */
typedef enum kiln_async_event_kind {
  KILN_ASYNC_BODY = 1,
  KILN_ASYNC_DISCONNECT = 2,
  KILN_ASYNC_DRAINED = 3,
  KILN_ASYNC_WS_TEXT = 4,
  KILN_ASYNC_WS_BINARY = 5,
  KILN_ASYNC_WS_CLOSE = 6
} kiln_async_event_kind;

/**
 * KILN_ASYNC_DRAIN_BYTES: see KILN_ASYNC_DRAINED.
 * SINCE: 1.3.
 */
#define KILN_ASYNC_DRAIN_BYTES (64u * 1024u)

/**
 * kiln_async_event is one report about a detached request (on_async_event).
 * OWNERSHIP: host; `data` is valid for the call only.
 * SINCE: 1.3; `code` since 1.4 (check `size` before reading it).
 */
typedef struct kiln_async_event {
  uint32_t size;  /* sizeof(kiln_async_event) as the host was built */
  uint32_t kind;  /* a kiln_async_event_kind */
  kiln_str data;  /* KILN_ASYNC_BODY, KILN_ASYNC_WS_TEXT/BINARY (message), _CLOSE (reason) */
  int more;       /* KILN_ASYNC_BODY */
  uint64_t sent;  /* KILN_ASYNC_DRAINED */
  uint32_t code;  /* KILN_ASYNC_WS_CLOSE: the close code */
} kiln_async_event;

/**
 * kiln_str_eq compares two byte strings.
 * THREADS: any.
 * SINCE: 1.0.  RETURNS: non-zero when equal.
 */
static inline int kiln_str_eq(kiln_str a, kiln_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_REQUEST_H */
