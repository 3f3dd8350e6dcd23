/* SPDX-License-Identifier: MIT */
/* kiln plugin SDK: the host function table (host -> plugin calls), handed to a plugin's init
 * and never linked. Append-only: each group says the minor that added it; a plugin checks
 * KILN_HAS(host, slot) before using a slot newer than the minor its descriptor requires. */
#ifndef KILN_HOST_H
#define KILN_HOST_H

#include "kiln/request.h"
#include "kiln/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * kiln_worker_state is the coarse state of a worker slot in the scoreboard.
 * SINCE: 1.0.
 */
typedef enum kiln_worker_state {
  KILN_WORKER_EMPTY = 0,    /* no process in this slot */
  KILN_WORKER_IDLE = 1,     /* waiting for a request */
  KILN_WORKER_BUSY = 2,     /* serving a request */
  KILN_WORKER_STOPPING = 3  /* finishing before exit (reload, max-requests, ...) */
} kiln_worker_state;

/**
 * kiln_worker_stats is a read-only copy of one worker's scoreboard slot. The caller sets
 * `size` to sizeof(kiln_worker_stats) before the call; the host fills what fits.
 * OWNERSHIP: caller.
 * SINCE: 1.0.
 */
typedef struct kiln_worker_stats {
  uint32_t size;
  int32_t worker_id;          /* 1..processes */
  int32_t pid;                /* 0 when the slot is empty */
  uint32_t state;             /* kiln_worker_state */
  uint64_t requests;          /* requests served by this worker process */
  int64_t request_start_us;   /* wall-clock start of the current request (us), 0 when idle */
  uint64_t rss_bytes;         /* resident set size at the last update */
} kiln_worker_stats;

/**
 * kiln_host_api is the table of host functions a plugin receives in init. The host keeps it
 * alive and unchanged for the life of the process, so the plugin may store the pointer.
 * Unless a block says otherwise: string arguments are borrowed for the duration of the call
 * (the host copies what it keeps), and strings returned point into host memory that lives as
 * long as the block states.
 * SINCE: 1.0.
 */
typedef struct kiln_host_api {
  uint32_t size;      /* sizeof(kiln_host_api) as the host was built */
  uint16_t abi_major; /* KILN_ABI_MAJOR of the host */
  uint16_t abi_minor; /* KILN_ABI_MINOR of the host */
  kiln_str host_version; /* e.g. "0.1.0"; static */

  /* ---- Logging and errors (since 1.0) ---- */

  /**
   * log_write writes one message to the server log, prefixed with the plugin's name. A
   * trailing newline is optional; embedded newlines give several lines.
   * OWNERSHIP: message is borrowed for the call.
   * THREADS: any.
   * SINCE: 1.0.
   */
  void (*log_write)(kiln_plugin *self, kiln_log_level level, kiln_str message);

  /**
   * error_set attaches a message to the KILN_ERROR the plugin is about to return from the
   * current callback. The last message set on this thread wins; the host reads and clears it
   * when the callback returns.
   * OWNERSHIP: message is copied.
   * THREADS: any; the message belongs to the calling thread.
   * SINCE: 1.0.
   */
  void (*error_set)(kiln_plugin *self, kiln_str message);

  /* ---- Options and configuration (since 1.0; usable from on_config_done on) ---- */

  /**
   * option_get reads an option's effective value: for a single-valued option the last
   * occurrence, or the registered default when it is not set; for a LIST option its first
   * value. Works for any option (core's and every plugin's), not only the plugin's own, by its
   * name or an alias.
   * OWNERSHIP: host; *out stays valid for the life of the process.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK; KILN_DECLINED if unset with no default (or an empty
   * list); KILN_ERROR if no option has this name.
   */
  kiln_status (*option_get)(kiln_plugin *self, kiln_str name, kiln_str *out);

  /**
   * option_count gives the number of values of an option (occurrences of a LIST option, after
   * comma splitting where the option asks for it; 0 or 1 otherwise).
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the count, 0 for an unknown option.
   */
  size_t (*option_count)(kiln_plugin *self, kiln_str name);

  /**
   * option_get_at reads value `index` (0-based, in configuration order) of an option.
   * OWNERSHIP: host; *out stays valid for the life of the process.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_DECLINED when index >= option_count.
   */
  kiln_status (*option_get_at)(kiln_plugin *self, kiln_str name, size_t index, kiln_str *out);

  /**
   * option_flag reads a FLAG option as 0 or 1 (default applied).
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK, KILN_DECLINED if unset with no default, KILN_ERROR if
   * unknown.
   */
  kiln_status (*option_flag)(kiln_plugin *self, kiln_str name, int *out);

  /**
   * option_number reads a NUMBER, SIZE (bytes) or DURATION (milliseconds) option.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK, KILN_DECLINED if unset with no default, KILN_ERROR if
   * unknown or not numeric.
   */
  kiln_status (*option_number)(kiln_plugin *self, kiln_str name, int64_t *out);

  /**
   * config_entry_count gives the number of key = value entries of the configuration as read
   * (every file and command-line occurrence, in order), for exposing it as uWSGI's uwsgi.opt.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the count (0 before on_config_done).
   */
  size_t (*config_entry_count)(kiln_plugin *self);

  /**
   * config_entry_get reads entry `index` of the configuration. A bare flag has value "true".
   * OWNERSHIP: host; both strings stay valid for the life of the process.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_DECLINED when index is out of range.
   */
  kiln_status (*config_entry_get)(kiln_plugin *self, size_t index, kiln_str *key,
                                  kiln_str *value);

  /* ---- The request being served (since 1.0) ---- */
  /* Every request function takes the handle passed to on_request and may only be called
   * from the thread running that on_request, before it returns. */

  /**
   * request_var_get looks up one CGI variable of the current request (REQUEST_METHOD,
   * PATH_INFO, QUERY_STRING, HTTP_HOST, ...). Of duplicate names the last one wins.
   * OWNERSHIP: host; *out stays valid until on_request returns.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_DECLINED if the variable is absent.
   */
  kiln_status (*request_var_get)(kiln_request *r, kiln_str name, kiln_str *out);

  /**
   * request_var_count gives the number of variables of the request (duplicates included).
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: the count.
   */
  size_t (*request_var_count)(kiln_request *r);

  /**
   * request_var_each calls `fn` for every variable in arrival order until it returns
   * non-zero.
   * OWNERSHIP: host; names and values stay valid until on_request returns.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.
   */
  void (*request_var_each)(kiln_request *r, kiln_var_visitor fn, void *arg);

  /**
   * request_modifiers gives the uwsgi modifiers of the request.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: the modifiers (0, 0 for HTTP).
   */
  kiln_modifiers (*request_modifiers)(kiln_request *r);

  /**
   * request_body_read reads up to `len` bytes of the request body into `buf` and sets *n to
   * the number read; *n == 0 with KILN_OK means the body is complete.
   * OWNERSHIP: caller owns buf.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: KILN_OK; KILN_ERROR when the client went away, timed out or sent a
   * malformed body (give up on the request; the reason is in the log).
   */
  kiln_status (*request_body_read)(kiln_request *r, char *buf, size_t len, size_t *n);

  /**
   * response_start sets the status line and headers. Call it once, before any body write.
   * The host frames the response (Content-Length or chunked on HTTP/1.1).
   * OWNERSHIP: reason and headers are copied before the call returns.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: KILN_OK; KILN_ERROR if already started, if a header holds CR or
   * LF, or if the status is outside 100..999 (nothing is sent then).
   */
  kiln_status (*response_start)(kiln_request *r, int status, kiln_str reason,
                                const kiln_header *headers, size_t header_count);

  /**
   * response_write appends body bytes; response_start must have succeeded.
   * OWNERSHIP: data is borrowed for the call.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR if the client is gone (stop writing).
   */
  kiln_status (*response_write)(kiln_request *r, kiln_str data);

  /**
   * response_sendfile sends `length` bytes of the open file `fd` from `offset`, with
   * sendfile(2) where the transport allows. response_start must have succeeded.
   * OWNERSHIP: the caller keeps fd and closes it.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: KILN_OK or KILN_ERROR.
   */
  kiln_status (*response_sendfile)(kiln_request *r, int fd, int64_t offset, int64_t length);

  /**
   * response_started tells whether response_start has succeeded for this request.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.0.  RETURNS: non-zero once started.
   */
  int (*response_started)(kiln_request *r);

  /* ---- Process and workers (since 1.0) ---- */

  /**
   * worker_id gives this process's worker id: 1..processes in a worker, 0 in the master.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the id.
   */
  int (*worker_id)(void);

  /**
   * core_id gives the calling request thread's index within its worker (0..threads-1); 0
   * outside request threads.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the id.
   */
  int (*core_id)(void);

  /**
   * worker_count gives the configured number of worker processes (`processes`).
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the count (at least 1).
   */
  int (*worker_count)(void);

  /**
   * thread_count gives the configured number of request threads per worker (`threads`).
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the count (at least 1).
   */
  int (*thread_count)(void);

  /**
   * server_reload asks the master for a graceful reload (as SIGHUP does), for uWSGI's
   * uwsgi.reload(). Returns at once; the reload happens asynchronously.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK when the request was passed on, KILN_ERROR otherwise.
   */
  kiln_status (*server_reload)(kiln_plugin *self);

  /**
   * master_pid gives the master's process id (uWSGI's uwsgi.masterpid()).
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the pid, or 0 before the master has started.
   */
  int (*master_pid)(void);

  /**
   * scoreboard_worker copies the scoreboard slot of worker `worker_id` (1..worker_count).
   * Set out->size first.
   * OWNERSHIP: caller owns *out.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: KILN_OK; KILN_DECLINED for an id out of range or when no
   * scoreboard exists (before workers are started).
   */
  kiln_status (*scoreboard_worker)(int worker_id, kiln_worker_stats *out);

  /* ---- Time (since 1.0) ---- */

  /**
   * time_monotonic_us reads a monotonic clock in microseconds (for measuring durations).
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: microseconds since an arbitrary fixed point.
   */
  int64_t (*time_monotonic_us)(void);

  /**
   * time_realtime_us reads the wall clock in microseconds since the Unix epoch.
   * THREADS: any.
   * SINCE: 1.0.  RETURNS: the time.
   */
  int64_t (*time_realtime_us)(void);

  /* ---- The spooler (since 1.2) ---- */

  /**
   * spool writes a task for the spooler (uWSGI's uwsgi.spool()): `vars` become the task's
   * arguments and `body` its body (may be empty). The arguments `spooler` (which `spooler`
   * directory, by its configured or real path; the first one when absent), `priority` (digits:
   * a subdirectory) and `at` (a unix time before which the task does not run) steer it and
   * stay in the task, as in uWSGI. A spooler process then hands it to a plugin's on_spool.
   * On KILN_OK `out` holds the task file's path, NUL-terminated; on KILN_ERROR it holds the
   * reason (truncated to fit). Keys and values are limited to 65535 bytes each and 64k in all.
   * OWNERSHIP: the arguments are borrowed for the call; `out` (out_cap bytes, 1024 or more
   * advised) is the caller's.
   * THREADS: any, in any process (a worker, a spooler, the master while it loads the apps).
   * SINCE: 1.2.  RETURNS: KILN_OK, or KILN_ERROR (no spooler configured, unknown spooler,
   * bad priority or at, arguments too big, or the file could not be written).
   */
  kiln_status (*spool)(kiln_plugin *self, const kiln_header *vars, size_t var_count,
                       kiln_str body, char *out, size_t out_cap);

  /* ---- Requests answered from another thread (since 1.3) ---- */
  /* A handler that runs many requests at once on an event loop (Python's ASGI) takes each one
   * over: the serving thread goes back to its connections, and the plugin answers from its own
   * thread. kiln keeps the parsing, the framing and the socket I/O: the plugin queues what it
   * wants done, and hears back through on_async_event on the serving thread. */

  /**
   * request_detach takes the request over. Call it from on_app_request (or on_request) before
   * any response call, copy the variables you need first (they are not readable afterwards),
   * then return KILN_OK: the host does not finish the request when the callback returns.
   * `token` comes back with every on_async_event for this request.
   * OWNERSHIP: the result is the host's, valid until async_finish.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.3.  RETURNS: the handle, or NULL when this request cannot be taken over (answer
   * it synchronously then).
   */
  kiln_async *(*request_detach)(kiln_request *r, uint64_t token);

  /**
   * async_response_start queues the status line and headers, as response_start.
   * OWNERSHIP: reason and headers are copied before the call returns.
   * THREADS: any; calls on one handle must come from one thread at a time, in order.
   * SINCE: 1.3.  RETURNS: KILN_OK; KILN_ERROR if the status is outside 100..999 or a header
   * holds CR or LF (nothing is queued then).
   */
  kiln_status (*async_response_start)(kiln_async *a, int status, kiln_str reason,
                                      const kiln_header *headers, size_t header_count);

  /**
   * async_response_write queues body bytes. With `more` non-zero they leave as soon as the
   * socket takes them (chunked unless the app set Content-Length); the last piece (more 0)
   * lets a one-piece body go out with a Content-Length. Never blocks: wait for
   * KILN_ASYNC_DRAINED to bound memory.
   * OWNERSHIP: data is copied.
   * THREADS: as async_response_start.
   * SINCE: 1.3.  RETURNS: KILN_OK.
   */
  kiln_status (*async_response_write)(kiln_async *a, kiln_str data, int more);

  /**
   * async_body_request asks for the next piece of the request body, answered by one
   * KILN_ASYNC_BODY event (or KILN_ASYNC_DISCONNECT). The host reads the body only when asked,
   * so a slow app does not grow memory. The first request answers `Expect: 100-continue`.
   * THREADS: as async_response_start.
   * SINCE: 1.3.  RETURNS: KILN_OK.
   */
  kiln_status (*async_body_request)(kiln_async *a);

  /**
   * async_finish ends the request: KILN_OK completes the response as written (500 if none was
   * started); any other status answers 500 when nothing was started and otherwise closes the
   * connection without completing the response. The handle is gone afterwards, and no
   * on_async_event for it is called once the serving thread has processed this call.
   * THREADS: as async_response_start.
   * SINCE: 1.3.
   */
  void (*async_finish)(kiln_async *a, kiln_status result);

  /* ---- A serving thread run from the plugin's event loop (since 1.4) ---- */
  /* A plugin with an event loop (Python's ASGI) runs the serving thread it is offered in
   * on_serve_thread from that loop: the loop watches serve_thread_fd and calls
   * serve_thread_step when it is readable and by the deadline step gave. Requests the plugin
   * detaches on that thread are then answered with no hand-over between threads: the async_*
   * calls made on the thread, outside serve_thread_step, do their work (frame, write to the
   * socket) before they return, and on_async_event is called inside serve_thread_step or
   * inside such a call. */

  /**
   * serve_thread_fd gives the descriptor to watch: readable when serve_thread_step has work.
   * THREADS: the serving thread `t` is (the one on_serve_thread was called on).
   * SINCE: 1.4.  RETURNS: the descriptor (the host's; do not close or read it).
   */
  int (*serve_thread_fd)(kiln_serve_thread *t);

  /**
   * serve_thread_step runs what is ready (accepts, reads, requests, whose on_app_request runs
   * inside it) without waiting. Call it when the descriptor is readable, and again within the
   * time it returns.
   * THREADS: as serve_thread_fd; never from inside itself.
   * SINCE: 1.4.  RETURNS: microseconds until it must run again (>= 0); KILN_SERVE_STOP (-1):
   * a graceful stop is complete, every request of every serving thread of the worker is done
   * (until the other threads are, it keeps returning a wait, so a loop that answers their
   * requests too runs on); KILN_SERVE_STOP_NOW (-2): an immediate stop. Return from
   * on_serve_thread after either.
   */
  int64_t (*serve_thread_step)(kiln_serve_thread *t);

  /* ---- WebSocket connections answered from another thread (since 1.4) ---- */
  /* A WebSocket upgrade request (RFC 6455) taken over as a detached request: the host checks
   * the handshake, answers 101, pings and close frames, and does all the framing; the plugin
   * sees whole messages (KILN_ASYNC_WS_* events) and sends whole messages. async_finish ends
   * it: after the accept with a close frame unless one was sent (1000 for KILN_OK, else 1011);
   * before it with 403 (KILN_OK) or 500. KILN_ASYNC_DRAINED bounds what async_ws_send queues. */

  /**
   * websocket_detach takes a WebSocket upgrade request over, as request_detach does (same
   * rules for the token and the variables). Call it first for a handler that speaks
   * WebSocket: on KILN_OK *out is the handle (nothing is answered yet: async_ws_accept or
   * async_ws_close next). KILN_DECLINED: not a WebSocket upgrade (no `websocket` in Upgrade),
   * or a transport that cannot carry one (uwsgi): serve it as an ordinary request.
   * KILN_ERROR: the handshake was broken (not GET, no Sec-WebSocket-Key, a version other
   * than 13, ...) and the host answered it (400 or 426): return KILN_OK without touching the
   * request.
   * OWNERSHIP: *out is the host's, valid until async_finish.
   * THREADS: the worker thread running on_request only.
   * SINCE: 1.4.
   */
  kiln_status (*websocket_detach)(kiln_request *r, uint64_t token, kiln_async **out);

  /**
   * async_ws_accept queues the 101 Switching Protocols with `subprotocol` (empty: none; else
   * one the client offered) and extra headers (the handshake's own are dropped from them).
   * OWNERSHIP: copied before the call returns.
   * THREADS: as async_response_start.
   * SINCE: 1.4.  RETURNS: KILN_OK; KILN_ERROR if a header holds CR or LF (nothing queued).
   * A subprotocol the client did not offer, or a header name that is not a token, is refused
   * on the serving thread: it answers 500 and reports KILN_ASYNC_WS_CLOSE with 1006.
   */
  kiln_status (*async_ws_accept)(kiln_async *a, kiln_str subprotocol, const kiln_header *headers,
                                 size_t header_count);

  /**
   * async_ws_send queues one message: text (`binary` 0, UTF-8 the caller vouches for) or
   * binary. Dropped before the accept, after a close was sent, or once the client is gone.
   * Never blocks: wait for KILN_ASYNC_DRAINED to bound memory.
   * OWNERSHIP: data is copied.
   * THREADS: as async_response_start.
   * SINCE: 1.4.  RETURNS: KILN_OK.
   */
  kiln_status (*async_ws_send)(kiln_async *a, kiln_str data, int binary);

  /**
   * async_ws_receive asks for the next message, answered by one KILN_ASYNC_WS_TEXT,
   * KILN_ASYNC_WS_BINARY or KILN_ASYNC_WS_CLOSE (or KILN_ASYNC_DISCONNECT). The host reads
   * the client's frames only while asked, so a plugin that asks again only when it has room
   * bounds memory; pings are answered while reading.
   * THREADS: as async_response_start.
   * SINCE: 1.4.  RETURNS: KILN_OK.
   */
  kiln_status (*async_ws_receive)(kiln_async *a);

  /**
   * async_ws_close sends a close frame with `code` (1000..4999 that an endpoint may send) and
   * a UTF-8 `reason` (cut to 123 bytes); an invalid one is logged and sent as 1011. Before
   * async_ws_accept it refuses the handshake with 403 instead. async_finish still follows.
   * OWNERSHIP: reason is copied.
   * THREADS: as async_response_start.
   * SINCE: 1.4.  RETURNS: KILN_OK.
   */
  kiln_status (*async_ws_close)(kiln_async *a, int code, kiln_str reason);

  /* ---- Waiting for the client (since 1.6) ---- */

  /**
   * request_wait_hook names a function the host calls around every wait for the client
   * inside this request's host calls (response_write, response_sendfile and
   * request_body_read, when the client's socket is full or its body has not arrived):
   * hook(ctx, 1) just before the wait and hook(ctx, 0) just after it, in pairs, on the
   * calling thread. Calls that do not wait (most writes: the socket takes them at once) call
   * nothing. A plugin whose runtime has one lock for all its threads (Python's GIL) drops the
   * lock in the hook instead of around each host call, so it keeps it across the calls that
   * do not wait. hook NULL removes it; it also ends when on_request or on_app_request returns.
   * Not for requests taken over with request_detach.
   * OWNERSHIP: ctx is the plugin's; the host only hands it back.
   * THREADS: the worker thread running on_request only; the hook runs on that thread.
   * SINCE: 1.6.
   */
  void (*request_wait_hook)(kiln_request *r, void (*hook)(void *ctx, int waiting), void *ctx);
} kiln_host_api;

/**
 * KILN_SERVE_STOP is what serve_thread_step returns once a graceful stop is complete.
 * SINCE: 1.4.
 */
#define KILN_SERVE_STOP (-1)

/**
 * KILN_SERVE_STOP_NOW is what serve_thread_step returns at an immediate stop.
 * SINCE: 1.4.
 */
#define KILN_SERVE_STOP_NOW (-2)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_HOST_H */
