/* SPDX-License-Identifier: MIT */
/* kiln plugin SDK: the basic types every other SDK header uses (strings, status codes, opaque
 * handles, log levels) and the ABI version macros. Plain C99; compiles as C++ too. Knows
 * nothing of the host's internals: every host object is an opaque handle. */
#ifndef KILN_TYPES_H
#define KILN_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * COMPATIBILITY POLICY
 * - KILN_ABI_MAJOR changes only when something already published changes meaning or layout.
 *   A plugin built for another major is refused by the loader.
 * - KILN_ABI_MINOR grows when something is appended: a host function, a callback slot, a
 *   struct field, an enum value. Structs and tables only grow at their end; nothing is ever
 *   reordered or removed within a major.
 * - A plugin records the lowest minor it needs (its descriptor's abi_minor, by default the
 *   minor of the headers it was built with); a host with an older minor refuses it.
 * - Every growing struct begins with `uint32_t size`. Before touching a slot added after 1.0,
 *   check it with KILN_HAS(table, slot).
 */

/**
 * KILN_ABI_MAJOR is the ABI generation these headers describe.
 * SINCE: 1.0.
 */
#define KILN_ABI_MAJOR 1

/**
 * KILN_ABI_MINOR is the number of append-only revisions within KILN_ABI_MAJOR.
 * SINCE: 1.0.
 */
#define KILN_ABI_MINOR 6

/**
 * KILN_HAS tells whether a size-prefixed table (host API, callbacks, stats) is large enough to
 * hold `field`: offset of the field plus its size within table->size.
 * SINCE: 1.0.  RETURNS: non-zero when the slot exists (it may still be NULL for a function).
 */
#define KILN_HAS(table, field)                                                       \
  ((table) != NULL &&                                                                \
   (size_t)((const char *)&(table)->field - (const char *)(table)) +                 \
           sizeof((table)->field) <=                                                 \
       (size_t)(table)->size)

/**
 * kiln_str is a byte string given as pointer and length. It is never assumed to end with a NUL
 * byte, and it may contain NUL bytes.
 * OWNERSHIP: stated by each function that takes or returns one.
 * SINCE: 1.0.
 */
typedef struct kiln_str {
  const char *ptr;
  size_t len;
} kiln_str;

/**
 * KILN_LIT expands a string literal to the initializer of a kiln_str:
 * `kiln_str s = KILN_LIT("text");`, also inside a static table
 * (`static const kiln_header h[] = {{KILN_LIT("Vary"), KILN_LIT("Accept")}};`). Where an
 * expression is expected (an argument, an assignment) use KILN_STR.
 * SINCE: 1.0.
 */
#define KILN_LIT(literal) \
  { (literal), sizeof(literal) - 1 }

/**
 * KILN_STR makes a kiln_str value of a string literal, for wherever a kiln_str expression is
 * expected: `host->response_write(r, KILN_STR("done\n"))`. A C99 compound literal (a C++
 * temporary), so not a constant initializer: in a static table use KILN_LIT.
 * OWNERSHIP: points into the literal, which lives for the whole program.
 * SINCE: 1.1.
 */
#ifdef __cplusplus
#define KILN_STR(literal) (kiln_str{(literal), sizeof(literal) - 1})
#else
#define KILN_STR(literal) ((kiln_str){(literal), sizeof(literal) - 1})
#endif

/**
 * kiln_str_c wraps a NUL-terminated C string (NULL gives the empty string) without copying.
 * OWNERSHIP: the result borrows `s`.
 * THREADS: any.
 * SINCE: 1.0.  RETURNS: the kiln_str.
 */
static inline kiln_str kiln_str_c(const char *s) {
  kiln_str out;
  out.ptr = s != NULL ? s : "";
  out.len = s != NULL ? strlen(s) : 0;
  return out;
}

/**
 * kiln_status is the result of every fallible call in either direction.
 * KILN_OK: done. KILN_ERROR: failed; a message may be attached with host->error_set.
 * KILN_AGAIN: not ready yet (for example no body bytes are available yet); call again.
 * KILN_DECLINED: "not mine" or "absent", never an error in itself.
 * SINCE: 1.0.
 */
typedef enum kiln_status {
  KILN_OK = 0,
  KILN_ERROR = 1,
  KILN_AGAIN = 2,
  KILN_DECLINED = 3
} kiln_status;

/**
 * kiln_log_level orders log messages from the most to the least verbose.
 * SINCE: 1.0.
 */
typedef enum kiln_log_level {
  KILN_LOG_DEBUG = 0,
  KILN_LOG_INFO = 1,
  KILN_LOG_NOTICE = 2,
  KILN_LOG_WARNING = 3,
  KILN_LOG_ERROR = 4
} kiln_log_level;

/**
 * kiln_plugin is the opaque handle of one loaded plugin, given to its init function. Pass it
 * back to host functions that log, report errors or read options on the plugin's behalf.
 * OWNERSHIP: host; valid for the life of the process.
 * SINCE: 1.0.
 */
typedef struct kiln_plugin kiln_plugin;

/**
 * kiln_request is the opaque handle of one request being served.
 * OWNERSHIP: host; valid only until the on_request call that received it returns.
 * SINCE: 1.0.
 */
typedef struct kiln_request kiln_request;

/**
 * kiln_async is the handle of a request a plugin took over with request_detach: the plugin
 * answers it later, from any thread (its event loop), with the async_* host functions.
 * OWNERSHIP: host; valid from request_detach until the plugin's async_finish call.
 * SINCE: 1.3.
 */
typedef struct kiln_async kiln_async;

/**
 * kiln_serve_thread is one serving thread of a worker, offered to a plugin's on_serve_thread
 * so that the plugin's event loop can run it (serve_thread_fd, serve_thread_step).
 * OWNERSHIP: host; valid until on_serve_thread returns.
 * SINCE: 1.4.
 */
typedef struct kiln_serve_thread kiln_serve_thread;

/**
 * kiln_header is one response header: name and value, neither containing CR or LF. Since 1.2
 * it also carries a spool task's arguments (the host's spool, the on_spool callback), whose
 * names and values are any bytes.
 * OWNERSHIP: caller; the host copies what it needs before the call returns.
 * SINCE: 1.0.
 */
typedef struct kiln_header {
  kiln_str name;
  kiln_str value;
} kiln_header;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_TYPES_H */
