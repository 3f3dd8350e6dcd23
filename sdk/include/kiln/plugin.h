/* SPDX-License-Identifier: MIT */
/* kiln plugin SDK: what a plugin exports (the descriptor returned by kiln_plugin_query_v1) and
 * the callback table it fills at init (plugin -> host calls). The loader reads the descriptor as
 * static data and validates it before any plugin code with side effects runs. */
#ifndef KILN_PLUGIN_H
#define KILN_PLUGIN_H

#include "kiln/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kiln_host_api;
struct kiln_async_event;

/**
 * KILN_PLUGIN_MAGIC opens every descriptor ("kiln" read as a big-endian number).
 * SINCE: 1.0.
 */
#define KILN_PLUGIN_MAGIC 0x6b696c6eu

/**
 * KILN_PLUGIN_QUERY_SYMBOL is the one symbol a plugin exports. Its name carries the ABI major,
 * so a plugin for another major is recognised as such instead of misread.
 * SINCE: 1.0.
 */
#define KILN_PLUGIN_QUERY_SYMBOL "kiln_plugin_query_v1"

/**
 * KILN_EXPORT marks the query function as exported when the rest of the plugin is built with
 * hidden visibility (-fvisibility=hidden, as kiln_add_plugin() does).
 * SINCE: 1.0.
 */
#if defined(__GNUC__) || defined(__clang__)
#define KILN_EXPORT __attribute__((visibility("default")))
#else
#define KILN_EXPORT
#endif

/**
 * kiln_plugin_kind: bits of kiln_plugin_desc.kinds.
 * KILN_KIND_HANDLER serves requests (lists modifier1 numbers, sets on_request, or from 1.1
 * on_app_request).
 * KILN_KIND_LOGGER provides logger schemes (lists logger_schemes, sets the on_logger_* slots).
 * KILN_KIND_HOOK only takes part in the lifecycle.
 * SINCE: 1.0.
 */
typedef enum kiln_plugin_kind {
  KILN_KIND_HANDLER = 1u << 0,
  KILN_KIND_LOGGER = 1u << 1,
  KILN_KIND_HOOK = 1u << 2
} kiln_plugin_kind;

/**
 * kiln_plugin_flag: bits of kiln_plugin_desc.flags.
 * KILN_PLUGIN_GLOBAL_SYMBOLS asks for RTLD_GLOBAL, so that libraries the plugin's runtime
 * dlopen()s later see its symbols (an embedded Python's C extension modules need this).
 * KILN_PLUGIN_LOGGER_BATCHES says on_logger_write may be handed several whole lines in one
 * call (a serving thread's request-log batch): the plugin writes them as one unit, with one
 * write() where its target allows, and never splits a line. Such a call carries at most
 * PIPE_BUF (4096) bytes unless it is a single longer line, so one write() of it stays whole
 * on a pipe as well. Without the flag every call carries one line. A host that does not know the bit writes line by line, so setting it needs no newer
 * host.
 * SINCE: 1.0.
 */
typedef enum kiln_plugin_flag {
  KILN_PLUGIN_GLOBAL_SYMBOLS = 1u << 0,
  KILN_PLUGIN_LOGGER_BATCHES = 1u << 1
} kiln_plugin_flag;

/**
 * kiln_build_flag: bits of kiln_plugin_desc.build_flags, filled by KILN_DESC_HEADER from the
 * compiler's view. A plugin built with AddressSanitizer needs a host built with it.
 * SINCE: 1.0.
 */
typedef enum kiln_build_flag { KILN_BUILD_SANITIZER = 1u << 0 } kiln_build_flag;

#if defined(__SANITIZE_ADDRESS__)
#define KILN_BUILD_FLAGS_ KILN_BUILD_SANITIZER
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_BUILD_FLAGS_ KILN_BUILD_SANITIZER
#endif
#endif
#ifndef KILN_BUILD_FLAGS_
#define KILN_BUILD_FLAGS_ 0u
#endif

/**
 * kiln_option_kind: how the host reads an option's values (the same kinds as core options).
 * FLAG: true/false/yes/no/on/off/1/0 or a bare key. NUMBER: integer. SIZE: bytes with an
 * optional k/m/g suffix. DURATION: seconds with an optional ms/s/m/h suffix. STRING: one value,
 * the last occurrence wins. LIST: repeatable, every occurrence is kept in order.
 * SINCE: 1.0.
 */
typedef enum kiln_option_kind {
  KILN_OPT_FLAG = 0,
  KILN_OPT_NUMBER = 1,
  KILN_OPT_SIZE = 2,
  KILN_OPT_DURATION = 3,
  KILN_OPT_STRING = 4,
  KILN_OPT_LIST = 5
} kiln_option_kind;

/**
 * kiln_option_flag: bits of kiln_option_spec.flags and kiln_option_def.flags.
 * KILN_OPTF_COMMA_LIST: a LIST option whose values are also split on ','.
 * KILN_OPTF_EXTERN (since 1.1, kiln_option_def rows only): the row names an option that core
 * or a plugin loaded before this one registers (`uid`, `lazy-apps`), so the plugin can have its
 * value written into its settings too. The host registers nothing for the row; it checks that
 * the option exists with the row's kind. default_value, help and aliases must be NULL.
 * SINCE: 1.0.
 */
typedef enum kiln_option_flag {
  KILN_OPTF_COMMA_LIST = 1u << 0,
  KILN_OPTF_EXTERN = 1u << 1
} kiln_option_flag;

/**
 * kiln_option_spec is one row of a plugin's option table. The option joins kiln's one
 * registry (so `--help`, typo suggestions and strict mode know it) once the plugin is loaded.
 * Strings are NUL-terminated and static: descriptor data is written by hand, and the loader
 * copies it.
 * OWNERSHIP: plugin; static storage.
 * SINCE: 1.0.
 */
typedef struct kiln_option_spec {
  const char *name;          /* e.g. "module"; must not clash with any other option */
  uint32_t kind;             /* a kiln_option_kind (fixed width across compilers) */
  const char *default_value; /* as text; NULL or "" for none */
  const char *help;          /* one sentence */
  uint32_t flags;            /* kiln_option_flag bits */
} kiln_option_spec;

/**
 * kiln_str_list is the field type of a LIST option's destination: every value in configuration
 * order (occurrences under an alias included, comma lists split when the row asks for it).
 * `items` is NULL when `count` is 0. Each item is followed by a NUL byte not counted in len.
 * OWNERSHIP: host; the array and the strings stay valid and unchanged for the life of the
 * process.
 * SINCE: 1.1.
 */
typedef struct kiln_str_list {
  const kiln_str *items;
  size_t count;
} kiln_str_list;

/**
 * kiln_option_field says where the host writes an option's value: a byte offset into the
 * plugin's settings struct (kiln_plugin_desc.settings) and the size of the field there. Size 0
 * means "no destination". Write it with KILN_FIELD. The field's C type follows the row's kind:
 * FLAG: `int` (0 or 1), or a one-byte `bool`/`_Bool`.
 * NUMBER: `int64_t`.
 * SIZE: `uint64_t`, in bytes.
 * DURATION: `int64_t`, in milliseconds.
 * STRING: `kiln_str`: the last value, else the default, else "" (ptr is never NULL and is
 * followed by a NUL byte; the text is the host's and lives as long as the process).
 * LIST: `kiln_str_list` (see there).
 * The loader refuses a row whose field size does not match its kind, or that reaches past
 * settings_size.
 * SINCE: 1.1.
 */
typedef struct kiln_option_field {
  size_t offset; /* offsetof(settings type, member) */
  size_t size;   /* sizeof the member; 0 for no destination */
} kiln_option_field;

/**
 * KILN_FIELD names the destination of an option row: member `member` of the settings struct
 * type `type` (a C struct: standard layout in C++). Expands to a kiln_option_field initializer.
 * SINCE: 1.1.
 */
#define KILN_FIELD(type, member) \
  { offsetof(type, member), sizeof(((type *)0)->member) }

/**
 * KILN_NO_FIELD is the kiln_option_field of a row without a destination (the plugin reads the
 * option with option_get, or only wants it documented and checked).
 * SINCE: 1.1.
 */
#define KILN_NO_FIELD \
  { 0, 0 }

/**
 * kiln_option_def is one row of a plugin's 1.1 option table (kiln_plugin_desc.option_defs): a
 * kiln_option_spec plus the other names the option answers to and where the host stores its
 * value. Before on_config_done the host parses each option as it parses core's (same syntax,
 * same errors naming file:line) and writes it into the row's field of the plugin's settings,
 * the default applied, so a plugin with plain options has no code reading them. A row is
 * `{"module", KILN_OPT_STRING, "", "The app.", 0, "wsgi", KILN_FIELD(my_settings, module)}`;
 * the descriptor adds `KILN_OPTION_DEFS(defs), KILN_SETTINGS(settings)` (docs/plugin-sdk.md
 * has a whole plugin).
 * Aliases join kiln's one registry with the name: `--help` lists them on the option's line,
 * typo suggestions, strict mode and autoload know them, and a value given under an alias is a
 * value of the option (for a STRING the last occurrence under any name wins).
 * Strings are NUL-terminated and static, as in kiln_option_spec.
 * OWNERSHIP: plugin; static storage.
 * SINCE: 1.1.
 */
typedef struct kiln_option_def {
  const char *name;          /* e.g. "module"; must not clash with any other option or alias */
  uint32_t kind;             /* a kiln_option_kind */
  const char *default_value; /* as text; NULL or "" for none */
  const char *help;          /* one sentence */
  uint32_t flags;            /* kiln_option_flag bits */
  const char *aliases;       /* other names separated by '|': "venv|virtualenv"; NULL for none */
  kiln_option_field field;   /* KILN_FIELD(settings type, member), or KILN_NO_FIELD */
} kiln_option_def;

/**
 * kiln_callbacks is the table a plugin fills in its init function: the plugin -> host calls.
 * The host allocates it zeroed with `size` set to the host's sizeof(kiln_callbacks); a NULL
 * slot means "nothing to do". A plugin built with newer headers must check KILN_HAS(cb, slot)
 * before writing a slot appended after the host's minor.
 * Every callback gets back `ctx`, which the plugin may set to anything.
 * Unless stated otherwise a callback runs on the process's main thread.
 * SINCE: 1.0.
 */
typedef struct kiln_callbacks {
  uint32_t size;
  void *ctx;

  /**
   * on_config_done validates the plugin's options once the whole configuration is known.
   * THREADS: master, main thread, before any socket is bound.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR (with error_set) to fail startup.
   */
  kiln_status (*on_config_done)(void *ctx);

  /**
   * on_master_start runs once in the master after sockets are bound and privileges dropped.
   * THREADS: master, main thread.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR (with error_set) to fail startup.
   */
  kiln_status (*on_master_start)(void *ctx);

  /**
   * on_app_load loads applications: in the master before fork (copy-on-write), or in each
   * worker after on_postfork when lazy-apps is set.
   * THREADS: main thread.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR (with error_set) to fail startup.
   */
  kiln_status (*on_app_load)(void *ctx);

  /**
   * on_postfork runs in each new worker right after fork, with its id (1..processes); from
   * 1.2 also in each new spooler process, with id 0, before its first on_spool.
   * THREADS: worker, main thread, before any request thread starts.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR to make the worker exit (it is respawned).
   */
  kiln_status (*on_postfork)(void *ctx, int worker_id);

  /**
   * on_request serves one request whose modifier1 (or mount point) this plugin claims,
   * unless the plugin sets on_app_request (1.1), which the host then calls instead.
   * OWNERSHIP: `r` is the host's and valid until this call returns.
   * THREADS: any worker thread; concurrently on several threads when threads > 1.
   * SINCE: 1.0.  RETURNS: KILN_OK when answered; KILN_ERROR (message with error_set) makes
   * the host log it and answer 500 if no response was started, else close the connection;
   * KILN_DECLINED (no application for this request) gets a logged 404.
   */
  kiln_status (*on_request)(void *ctx, kiln_request *r);

  /**
   * on_after_request runs after the response is complete (for cleanup and accounting).
   * THREADS: the thread that ran on_request.
   * SINCE: 1.0.
   */
  void (*on_after_request)(void *ctx, kiln_request *r);

  /**
   * on_worker_exit runs in a worker that is about to exit gracefully.
   * THREADS: worker, main thread.
   * SINCE: 1.0.
   */
  void (*on_worker_exit)(void *ctx);

  /**
   * on_shutdown runs in the master once before it exits (not on a reload's re-exec).
   * THREADS: master, main thread.
   * SINCE: 1.0.
   */
  void (*on_shutdown)(void *ctx);

  /**
   * on_reload runs in the master when a graceful reload begins, before the new generation.
   * THREADS: master, main thread.
   * SINCE: 1.0.
   */
  void (*on_reload)(void *ctx);

  /**
   * on_harakiri runs in the master when it is about to kill worker `worker_id` for running a
   * request too long, so a plugin may log what it knows. Must be quick.
   * THREADS: master, main thread.
   * SINCE: 1.0.
   */
  void (*on_harakiri)(void *ctx, int worker_id);

  /**
   * on_logger_open opens one logger of a scheme the descriptor lists (`file` for
   * `logger = file:/var/log/app.log`), with `arg` the text after the colon.
   * Called at startup before privileges are dropped, in the master.
   * OWNERSHIP: scheme and arg are the host's, valid during the call; *handle is the plugin's
   * until on_logger_close.
   * THREADS: master, main thread.
   * SINCE: 1.0.  RETURNS: KILN_OK with *handle set, or KILN_ERROR with error_set (the path and
   * the system's reason): startup fails before any worker starts.
   */
  kiln_status (*on_logger_open)(void *ctx, kiln_str scheme, kiln_str arg, void **handle);

  /**
   * on_logger_write writes one whole line (ending with '\n') to a logger, or several whole
   * lines when the descriptor sets KILN_PLUGIN_LOGGER_BATCHES. It must not block for long and
   * must not split a line: lines from several processes share the target.
   * THREADS: any; the host serialises calls on one handle within a process.
   * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR (the host counts failures and reports them
   * now and then; it never stops serving because of them).
   */
  kiln_status (*on_logger_write)(void *handle, kiln_str line);

  /**
   * on_logger_reopen reopens a logger's target (log rotation). On failure the plugin keeps the
   * old target open and reports why with error_set.
   * THREADS: any process; the host serialises calls on one handle.
   * SINCE: 1.0.  RETURNS: KILN_OK or KILN_ERROR.
   */
  kiln_status (*on_logger_reopen)(void *handle);

  /**
   * on_logger_close releases a logger handle.
   * THREADS: as on_logger_reopen.
   * SINCE: 1.0.
   */
  void (*on_logger_close)(void *handle);

  /**
   * on_mount offers the plugin one `mount = /prefix=target` entry of the configuration, so the
   * host knows which plugin serves which mount point (`mount = /lua=app.lua` beside a Python
   * app). The host offers each entry to the handler plugins in load order until one claims it.
   * Requests then reach the claiming plugin whatever their modifier1: when SCRIPT_NAME equals
   * the mount point, or, with `manage-script-name`, when PATH_INFO starts with it on a '/'
   * boundary (longest mount point first), and SCRIPT_NAME/PATH_INFO are then already split.
   * A 1.0 plugin finds its app again from SCRIPT_NAME; from 1.1 on, a plugin sets
   * on_mount_app instead, and the host hands the app back with each request.
   * OWNERSHIP: mountpoint and target are the host's, valid during the call; copy what you keep.
   * THREADS: master, main thread, after on_config_done.
   * SINCE: 1.0.  RETURNS: KILN_OK to claim the entry, KILN_DECLINED if it is another plugin's
   * (for example a target with another file extension), KILN_ERROR (with error_set) for a
   * malformed entry: startup fails naming it.
   */
  kiln_status (*on_mount)(void *ctx, kiln_str mountpoint, kiln_str target);

  /* ---- Routing by the host (since 1.1) ---- */

  /**
   * on_mount_app offers the plugin one `mount = /prefix=target` entry, as on_mount does, and
   * takes back the handle of the app the plugin will serve there. The host has checked the
   * entry: `mountpoint` starts with '/' and has no trailing '/' ("/" alone is the root mount,
   * which serves the requests that reach this plugin by modifier1 and match no other mount).
   * The host routes every request itself, once: to the plugin that claimed the mount whose
   * point equals SCRIPT_NAME, or with `manage-script-name` the longest one PATH_INFO starts
   * with on a '/' boundary (it then moves the mount point from PATH_INFO to SCRIPT_NAME);
   * otherwise to the plugin claiming the request's modifier1, with its root mount's handle or
   * NULL. The plugin reads neither `mount` nor `manage-script-name`.
   * When the plugin sets this slot the host never calls on_mount.
   * OWNERSHIP: mountpoint and target are the host's, valid during the call; *app is the
   * plugin's (any value; NULL is kept for the plugin's default app) and the host only hands
   * it back.
   * THREADS: master, main thread, after on_config_done and before on_master_start.
   * SINCE: 1.1.  RETURNS: KILN_OK with *app set to claim the entry; KILN_DECLINED if it is
   * another plugin's (a target with another file extension); KILN_ERROR (with error_set) for
   * a target it cannot serve: startup fails naming the entry.
   */
  kiln_status (*on_mount_app)(void *ctx, kiln_str mountpoint, kiln_str target, void **app);

  /**
   * on_app_request serves one request the host has routed to this plugin, with the app
   * handle on_mount_app returned for the mount that matched, or NULL for the plugin's default
   * app (the one its own options name, as Python's `module` or Lua's `lua`). SCRIPT_NAME and
   * PATH_INFO, as request_var_get reads them, are the split the host made. When set, the host
   * calls it instead of on_request (which a 1.1 handler plugin may leave NULL).
   * OWNERSHIP: `r` is the host's and valid until this call returns; `app` is the plugin's.
   * THREADS: any worker thread; concurrently on several threads when threads > 1.
   * SINCE: 1.1.  RETURNS: as on_request; KILN_DECLINED (NULL app and no default app) gets a
   * logged 404.
   */
  kiln_status (*on_app_request)(void *ctx, kiln_request *r, void *app);

  /* ---- The spooler (since 1.2) ---- */

  /**
   * on_spool runs one spool task (uWSGI's spooler callable) in a spooler process: the task
   * another process wrote with the host's `spool`. `path` is the task file's path (uWSGI's
   * spooler_task_name), `vars` its arguments in the order they were written (names and values
   * are bytes; `name` and `value` of each kiln_header), `body` its body (empty when none).
   * The host offers the task to the handler plugins in load order until one returns
   * something other than KILN_SPOOL_IGNORE.
   * OWNERSHIP: everything is the host's and valid until the call returns.
   * THREADS: a spooler process's main thread (worker_id() is 0 there), one task at a time.
   * SINCE: 1.2.  RETURNS: a kiln_spool_result: KILN_SPOOL_OK (done: the host deletes the
   * file), KILN_SPOOL_RETRY (keep it for the next scan) or KILN_SPOOL_IGNORE (not this
   * plugin's).
   */
  int (*on_spool)(void *ctx, kiln_str path, const kiln_header *vars, size_t var_count,
                  kiln_str body);

  /* ---- Requests answered from another thread (since 1.3) ---- */

  /**
   * on_async_event reports on a request the plugin took over (request_detach), with the token
   * it gave there. Must be quick and must not block: typically it queues the event for the
   * plugin's event loop and wakes it. A plugin that detaches requests must set it.
   * OWNERSHIP: ev and its data are the host's, valid for the call.
   * THREADS: the worker thread that serves the request's connection.
   * SINCE: 1.3.
   */
  void (*on_async_event)(void *ctx, uint64_t token, const struct kiln_async_event *ev);

  /* ---- A serving thread run from the plugin's event loop (since 1.4) ---- */

  /**
   * on_serve_thread offers a serving thread, about to run its own loop, to the plugin: a plugin
   * with an event loop may run the thread from it instead (the host's serve_thread_fd and
   * serve_thread_step) and return KILN_OK once serve_thread_step said stop; KILN_DECLINED lets
   * the host run the thread itself. Handler plugins are asked in load order until one takes
   * it. If the plugin returns before the stop, the host runs the rest of the thread itself.
   * OWNERSHIP: `t` is the host's, valid until the call returns.
   * THREADS: each serving thread of a worker, once, before it serves.
   * SINCE: 1.4.  RETURNS: KILN_OK (ran it) or KILN_DECLINED.
   */
  kiln_status (*on_serve_thread)(void *ctx, kiln_serve_thread *t);

  /* ---- The end of a worker's serving threads (since 1.5) ---- */

  /**
   * on_serve_threads_done says that every serving thread of this worker has stopped (after a
   * graceful stop, once their requests were answered; after an immediate one, with requests
   * still taken over): the handles of taken-over requests (kiln_async) are freed when it
   * returns. A plugin whose own threads call the async functions stops them from doing so
   * before it returns (a loop of its own on a thread of its own is stopped here).
   * OWNERSHIP: none.
   * THREADS: once per worker, on the thread that ran the first serving thread, before
   * on_worker_exit.
   * SINCE: 1.5.  RETURNS: nothing.
   */
  void (*on_serve_threads_done)(void *ctx);
} kiln_callbacks;

/**
 * kiln_spool_result: what on_spool returns; uWSGI's SPOOL_OK, SPOOL_RETRY, SPOOL_IGNORE.
 * SINCE: 1.2.
 */
typedef enum kiln_spool_result {
  KILN_SPOOL_OK = -2,
  KILN_SPOOL_RETRY = -1,
  KILN_SPOOL_IGNORE = 0
} kiln_spool_result;

/**
 * kiln_init_fn runs once, right after the loader has validated the descriptor. The plugin
 * keeps `host` and `self` (both live for the whole process) and fills `cb`.
 * Options are not readable yet (they are from on_config_done on).
 * OWNERSHIP: host owns all three arguments.
 * THREADS: main thread of the process that loads plugins (the master).
 * SINCE: 1.0.  RETURNS: KILN_OK, or KILN_ERROR (with error_set) to fail startup.
 */
typedef kiln_status (*kiln_init_fn)(const struct kiln_host_api *host, kiln_plugin *self,
                                    kiln_callbacks *cb);

/**
 * kiln_plugin_desc describes a plugin. It is static data: the loader reads and checks every
 * field before calling init. Fill the first six fields with KILN_DESC_HEADER.
 * Strings are NUL-terminated and static.
 * Aliases are other names `plugins =` may use; an alias ending in '*' is a prefix pattern
 * ("python3*" matches "python36" and "python311").
 * Options come from two tables, which may both be used: `options` (1.0 rows, read by the
 * plugin through option_get) and `option_defs` (1.1 rows, with aliases and destinations). The
 * 1.1 table is a second table rather than longer 1.0 rows because a 1.0 host walks `options`
 * with the 1.0 row size; `option_def_size` gives the stride, so later minors can append to
 * kiln_option_def too. A descriptor that lists option_defs or settings must say abi_minor >= 1
 * (KILN_DESC_HEADER does), so an older host refuses it by version instead of ignoring them.
 * `settings` is the plugin's own struct (typically static), written by the host only on the
 * main thread, before on_config_done; the plugin reads it from then on.
 * OWNERSHIP: plugin; static storage for the life of the process.
 * SINCE: 1.0.
 */
typedef struct kiln_plugin_desc {
  uint32_t magic;        /* KILN_PLUGIN_MAGIC */
  uint32_t size;         /* sizeof(kiln_plugin_desc) as the plugin was built */
  uint16_t abi_major;    /* KILN_ABI_MAJOR */
  uint16_t abi_minor;    /* the lowest host minor this plugin needs */
  uint32_t pointer_size; /* sizeof(void *) */
  uint32_t build_flags;  /* kiln_build_flag bits */

  uint32_t flags;                /* kiln_plugin_flag bits */
  uint32_t kinds;                /* kiln_plugin_kind bits */
  const char *name;              /* canonical name: [a-z0-9_]+, e.g. "python" */
  const char *version;           /* the plugin's own version, e.g. "0.1.0" */
  const char *runtime;           /* what it embeds, e.g. "python 3.11.2"; NULL if nothing */
  const char *versioned_name;    /* e.g. "python311": the name matching the runtime; or NULL */
  const char *const *aliases;    /* alias_count entries */
  size_t alias_count;
  const uint8_t *modifier1;      /* modifier1 numbers served (handler plugins) */
  size_t modifier1_count;
  const kiln_option_spec *options; /* option_count rows */
  size_t option_count;
  const char *const *logger_schemes; /* e.g. "file" (logger plugins) */
  size_t logger_scheme_count;
  kiln_init_fn init;             /* may be NULL for a plugin with no callbacks */

  /* Since 1.1 (a descriptor using them needs abi_minor >= 1): */
  const kiln_option_def *option_defs; /* option_def_count rows; see KILN_OPTION_DEFS */
  size_t option_def_count;
  uint32_t option_def_size;      /* sizeof(kiln_option_def) as the plugin was built */
  void *settings;                /* the struct the rows' fields are in; see KILN_SETTINGS */
  size_t settings_size;          /* its sizeof */
} kiln_plugin_desc;

/**
 * KILN_DESC_HEADER fills magic, size, ABI version, pointer size and build flags of a
 * descriptor, needing the minor of the headers in use.
 * SINCE: 1.0.
 */
#define KILN_DESC_HEADER                                                                    \
  KILN_PLUGIN_MAGIC, (uint32_t)sizeof(kiln_plugin_desc), KILN_ABI_MAJOR, KILN_ABI_MINOR,   \
      (uint32_t)sizeof(void *), KILN_BUILD_FLAGS_

/**
 * KILN_DESC_INIT is KILN_DESC_HEADER for designated initializers (C99, C++20), so the rest of
 * the descriptor can name its fields:
 * `static const kiln_plugin_desc d = {KILN_DESC_INIT, .kinds = KILN_KIND_HANDLER, ...};`
 * SINCE: 1.0.
 */
#define KILN_DESC_INIT                                                                       \
  .magic = KILN_PLUGIN_MAGIC, .size = (uint32_t)sizeof(kiln_plugin_desc),                    \
  .abi_major = KILN_ABI_MAJOR, .abi_minor = KILN_ABI_MINOR,                                  \
  .pointer_size = (uint32_t)sizeof(void *), .build_flags = KILN_BUILD_FLAGS_

/**
 * KILN_OPTION_DEFS fills option_defs, option_def_count and option_def_size of a descriptor
 * from a static array of kiln_option_def, for designated initializers:
 * `.init = init, KILN_OPTION_DEFS(defs), KILN_SETTINGS(settings)`.
 * SINCE: 1.1.
 */
#define KILN_OPTION_DEFS(table)                                               \
  .option_defs = (table), .option_def_count = KILN_COUNT(table),              \
  .option_def_size = (uint32_t)sizeof((table)[0])

/**
 * KILN_SETTINGS fills settings and settings_size of a descriptor with the plugin's settings
 * object (not a pointer to it), after KILN_OPTION_DEFS.
 * SINCE: 1.1.
 */
#define KILN_SETTINGS(object) .settings = &(object), .settings_size = sizeof(object)

/**
 * KILN_COUNT gives the number of elements of a static array, for the *_count fields.
 * SINCE: 1.0.
 */
#define KILN_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/**
 * kiln_plugin_query_v1 is the function every plugin defines and exports (with KILN_EXPORT).
 * It must only return the address of static data: it runs before any validation.
 * OWNERSHIP: plugin.
 * THREADS: main thread; may be called more than once.
 * SINCE: 1.0.  RETURNS: the descriptor, never NULL.
 */
KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_PLUGIN_H */
