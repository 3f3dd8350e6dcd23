// Core's option table: one row per option, data only (nginx's ngx_command_t arrays). Language
// options (module, wsgi-file, ...) belong to their plugins' tables, never here.
// To mark a feature as built, change the row's state from P (planned) to I (implemented), then
// regenerate docs/options.md (build/core/kiln --help-markdown > docs/options.md).
#include <string>
#include <vector>

#include "core/config/option.h"
#include "core/config/option_registry.h"

namespace kiln::config {
namespace {

constexpr OptionKind kFlag = OptionKind::kFlag;
constexpr OptionKind kNum = OptionKind::kNumber;
constexpr OptionKind kSize = OptionKind::kSize;
constexpr OptionKind kDur = OptionKind::kDuration;
constexpr OptionKind kStr = OptionKind::kString;
constexpr OptionKind kList = OptionKind::kList;
constexpr OptionState I = OptionState::kImplemented;
constexpr OptionState P = OptionState::kPlanned;
constexpr OptionState N = OptionState::kAcceptedNoOp;

struct Row {
  const char* name;
  OptionKind kind;
  const char* default_value;
  OptionState state;
  const char* help;
  std::vector<std::string> aliases = {};
  bool comma_list = false;
  uint64_t size_unit = 1;
};

constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;

// clang-format off
const std::vector<Row>& Rows() {
  static const auto* rows = new std::vector<Row>{
  // {name, kind, default, state (I implemented / P planned),
  //  help, aliases, comma list, unit of a bare size}
  // Configuration
  {"ini", kList, "", I,
   "Read another ini file in place: `file[:section]`, relative to this one (`:section`: this one).",
   {"include"}},
  {"set-placeholder", kList, "", I,
   "Define a placeholder `key=value` for later `%(key)` references.", {"set-ph", "set"}},
  {"strict", kFlag, "false", I,
   "Turn every configuration warning (unknown keys, odd values) into a startup error."},
  {"print", kList, "", I,
   "Print this message on stdout once the configuration is read, before the server starts "
   "(every `print` in order; not with --print-config)."},
  // Printing the resolved configuration (docs/configuration.md, --print-config)
  {"show-config", kFlag, "false", I,
   "Print the resolved configuration (as --print-config does) to stderr at startup, then "
   "start."},
  // Plugins
  {"plugins", kList, "", I,
   "Load these plugins (comma lists accepted; `N:name` forces modifier1).", {"plugin"}, true},
  {"plugin-dir", kList, "", I,
   "Look for plugins in this directory first.", {"plugins-dir"}},
  {"autoload", kFlag, "true", I,
   "Load the installed plugin that provides an option the config uses."},
  {"need-plugin", kList, "", I,
   "Load these plugins and fail startup if one is missing.", {"need-plugins"}, true},
  // Processes
  {"master", kFlag, "false", I,
   "Run a master process that supervises the workers."},
  {"processes", kNum, "1", I, "Number of worker processes.", {"workers"}},
  {"threads", kNum, "1", I, "Number of request threads in each worker."},
  {"lazy-apps", kFlag, "false", I,
   "Load the application in each worker after fork instead of in the master."},
  {"chdir", kStr, "", I,
   "Change to this directory before binding sockets and loading apps."},
  {"uid", kStr, "", I,
   "Drop privileges to this user (name or number) after binding sockets."},
  {"gid", kStr, "", I,
   "Drop privileges to this group (name or number); defaults to the user's primary group."},
  {"umask", kStr, "", I, "Set the process umask (octal)."},
  {"pidfile", kStr, "", I, "Write the master's pid to this file."},
  {"daemonize", kStr, "", I,
   "Detach from the terminal and log to this file."},
  {"die-on-term", kFlag, "true", I,
   "SIGTERM stops the server gracefully (false: SIGTERM reloads, as uWSGI 2.0)."},
  // Graceful stop (drain)
  {"drain-delay", kDur, "0", I,
   "After SIGTERM, go on accepting this long while readiness (/ready) already says 503, so a "
   "balancer that learns of a stopping backend only from its readiness (Kubernetes endpoints) "
   "stops sending first; then the queued connections are served and new ones refused."},
  {"reload-mercy", kDur, "60", I,
   "How long a reload or shutdown waits for other processes before killing them."},
  {"worker-reload-mercy", kDur, "60", I,
   "How long a reload or shutdown waits for a worker to finish before killing it."},
  {"max-requests", kNum, "0", I,
   "Recycle a worker after this many requests (0 disables)."},
  {"max-worker-lifetime", kDur, "0", I,
   "Recycle a worker after it has run this long (0 disables)."},
  {"min-worker-lifetime", kDur, "10", I,
   "max-requests and reload-on-rss recycle a worker only once it has run this long."},
  {"reload-on-rss", kSize, "0", I,
   "Recycle a worker whose resident memory exceeds this (bare numbers are MiB; 0 disables).",
   {}, false, kMiB},
  {"reload-on-as", kSize, "0", I,
   "Recycle a worker whose address space (VmSize) exceeds this (bare numbers are MiB; 0 "
   "disables).", {}, false, kMiB},
  {"harakiri", kDur, "0", I,
   "Kill a worker whose request runs longer than this (0 disables)."},
  {"harakiri-verbose", kFlag, "false", I, "Log more about the request a harakiri killed."},
  {"touch-reload", kList, "", I,
   "Reload gracefully when this file's modification time changes (uWSGI's `fs-reload`, which "
   "watches for a modification, reads the same).", {"fs-reload"}},
  {"attach-daemon", kList, "", I,
   "Run and supervise this command beside the workers."},
  {"auto-procname", kFlag, "false", I, "Give processes meaningful names in ps output."},
  {"procname-prefix", kStr, "", I, "Prefix every process name with this text."},
  {"env", kList, "", I,
   "Set an environment variable `NAME=value` for the application."},
  {"unenv", kList, "", I, "Remove this environment variable."},
  {"need-app", kFlag, "true", I,
   "Fail startup when no application is configured or it cannot be loaded (naming the likely "
   "typo); false: start anyway and answer 500."},
  {"builtin-handler", kFlag, "false", I,
   "Answer requests with kiln's built-in test handler (echo, sleep, status endpoints) when no "
   "handler plugin is loaded. For smoke tests only; never exposes request headers."},
  {"memory-report", kFlag, "false", I, "Add memory usage to the request log."},
  // Cheaper (adaptive workers), the master FIFO and chain reloads (docs/operations.md)
  {"cheaper", kNum, "0", I,
   "Cheaper mode: run at least this many workers and up to `processes`, as the load needs "
   "(0 disables; must be below `processes`; needs `master`)."},
  {"cheaper-initial", kNum, "0", I,
   "Workers started at start-up in cheaper mode (0: `cheaper`)."},
  {"cheaper-step", kNum, "1", I, "Workers spawned at once when cheaper mode adds workers."},
  {"cheaper-overload", kNum, "3", I,
   "spare and busyness: seconds of overload before workers are added (and between stops); "
   "backlog: the listen queue length above which workers are added."},
  {"cheaper-algo", kStr, "spare", I,
   "The cheaper algorithm: `spare` (all workers busy), `backlog` (the listen queue), "
   "`busyness` (share of time busy) or `manual` (master FIFO `+`/`-` only)."},
  {"cheaper-busyness-max", kNum, "50", I,
   "busyness: above this average percent of time busy, workers are added."},
  {"cheaper-busyness-min", kNum, "25", I,
   "busyness: below this average percent of time busy, workers are stopped."},
  {"cheaper-busyness-multiplier", kNum, "10", I,
   "busyness: a worker is stopped after cheaper-overload x this many idle seconds."},
  {"cheaper-busyness-penalty", kNum, "2", I,
   "busyness: added to the multiplier when a stopped worker had to be spawned again soon."},
  {"cheaper-busyness-verbose", kFlag, "false", I, "busyness: log each busyness measurement."},
  {"cheaper-busyness-backlog-alert", kNum, "33", I,
   "busyness: spawn emergency workers at once when the listen queue is longer than this."},
  {"cheaper-busyness-backlog-multiplier", kNum, "3", I,
   "busyness: emergency workers are stopped after cheaper-overload x this many idle seconds."},
  {"cheaper-busyness-backlog-step", kNum, "1", I,
   "busyness: emergency workers spawned at once."},
  {"cheaper-busyness-backlog-nonzero", kNum, "60", I,
   "busyness: spawn an emergency worker when the listen queue stays non-empty this many "
   "seconds."},
  {"master-fifo", kList, "", I,
   "A FIFO the master reads one-letter commands from (r reload, c chain reload, q stop, ...); "
   "several allowed, the first is active and `0`-`9` switch. Mode 0600, owned by `uid`."},
  {"touch-chain-reload", kList, "", I,
   "Chain-reload (workers replaced one at a time) when this file's modification time changes."},
  // The stats server and metrics (docs/operations.md, "Stats and metrics")
  {"stats", kStr, "", I,
   "Serve uWSGI's stats JSON on this address (with `:` TCP, else a unix socket, mode 0600 or "
   "chmod-socket): one document per connection, answered by the master from the scoreboard.",
   {"stats-server"}},
  {"stats-http", kFlag, "false", I,
   "Speak HTTP on the stats address: the JSON for every path, plus GET /metrics "
   "(Prometheus), /ready and /live."},
  {"stats-minified", kFlag, "false", I,
   "Send the stats JSON without indentation.", {"stats-min"}},
  {"thunder-lock", kFlag, "false", N,
   "Accepted for uWSGI files; kiln needs no accept lock: each serving thread waits with "
   "EPOLLEXCLUSIVE, so one idle thread wakes per connection."},
  // Sockets
  {"socket", kList, "", I,
   "Serve the uwsgi protocol on this address (`/path.sock`, `host:port`, `:port`).",
   {"uwsgi-socket"}},
  {"http-socket", kList, "", I,
   "Serve HTTP/1.1 on this address, with keep-alive (so uWSGI's `http11-socket` reads the "
   "same).", {"http11-socket"}},
  {"http", kList, "", I,
   "Serve HTTP/1.1 on this address. The workers answer it themselves, one hop fewer than "
   "uWSGI's separate router process."},
  {"chmod-socket", kStr, "", I,
   "Set the permissions of unix sockets (bare: 666).", {"chmod"}},
  {"chown-socket", kStr, "", I,
   "Set the owner (`user[:group]`) of unix sockets."},
  {"vacuum", kFlag, "false", I, "Remove unix sockets and the pidfile at exit."},
  {"listen", kNum, "100", I, "Listen queue length of each socket."},
  {"reuse-port", kFlag, "false", I, "Set SO_REUSEPORT on TCP sockets."},
  {"socket-timeout", kDur, "4", I,
   "Give up on a client that sends or receives nothing for this long."},
  {"http-timeout", kDur, "60", I, "Timeout of HTTP connections."},
  {"http-keepalive", kNum, "1", I,
   "Keep HTTP/1.1 connections open between requests (0 turns it off)."},
  {"http-keepalive-drain", kDur, "15", I,
   "On a graceful stop or reload, an idle keep-alive connection is closed only once it has "
   "been idle this long (a request that arrives first is answered with Connection: close); "
   "keep it above the front end's upstream keepalive_timeout (10s in conf/nginx) so the "
   "front end closes first. Capped below worker-reload-mercy; 0 closes idle ones at once."},
  {"buffer-size", kSize, "65535", I,
   "Largest request header block (uwsgi vars or HTTP headers) accepted."},
  {"post-buffering", kSize, "0", I,
   "Read request bodies larger than this into a buffer before calling the app."},
  {"post-buffering-memory", kSize, "32m", I,
   "Memory a worker may hold for post-buffered bodies still arriving, over all its "
   "connections; a body that does not fit is collected in an unlinked temporary file "
   "(0: every such body goes to a file)."},
  {"limit-post", kSize, "0", I, "Largest request body accepted (0: no limit)."},
  {"offload-threads", kNum, "0", N,
   "Accepted for uWSGI files; kiln sends static files and wsgi.file_wrapper bodies with "
   "sendfile(2) from the serving thread, without copying through the app."},
  {"static-map", kList, "", I, "Serve files: `/mountpoint=/directory`."},
  {"static-index", kList, "", P,
   "File name served for a directory request under static-map."},
  {"check-static", kList, "", P,
   "Serve a file from this directory when one matches the request path."},
  {"mount", kList, "", I,
   "Mount an application at a path: `/path=module:callable`, `/path=app.py`, `/path=app.lua`."},
  {"manage-script-name", kFlag, "false", I,
   "Move the mount point from PATH_INFO to SCRIPT_NAME."},
  // Which app serves a request no mount matches, and apps by host (core/plugin/router.cc)
  {"no-default-app", kFlag, "false", I,
   "Do not fall back to the default app (`module`/`wsgi-file`, or `mount = /=...`): a request "
   "whose SCRIPT_NAME matches no mount point gets 500, as under uWSGI (a request without "
   "SCRIPT_NAME still reaches the `module` app, uWSGI's app at mount point '')."},
  {"vhost", kFlag, "false", I,
   "Virtual hosting: mounts are `host|/prefix=target` (`host|=target` for the host's root) and "
   "serve only requests whose SERVER_NAME is that host; other requests go to the default app. "
   "kiln never loads apps from request variables (UWSGI_SCRIPT, UWSGI_FILE)."},
  {"vhost-host", kFlag, "false", I,
   "Virtual hosting by the Host header (HTTP_HOST, as sent, port included) instead of "
   "SERVER_NAME; implies `vhost`."},
  {"disable-write-exception", kFlag, "false", I,
   "Do not raise an exception in the app when a response write fails."},
  {"ignore-sigpipe", kFlag, "false", I, "Do not log SIGPIPE."},
  {"ignore-write-errors", kFlag, "false", I, "Do not log failed response writes."},
  // Emperor: one kiln supervising a vassal per config file (core/emperor, docs/emperor.md)
  {"emperor", kList, "", I,
   "Run as the emperor: start a vassal (`kiln --ini FILE`, cwd the file's directory) for each "
   "`*.ini` in this directory (or each file matching this glob); reload it when the file "
   "changes, stop it when the file goes."},
  {"emperor-freq", kNum, "3", I,
   "Seconds between scans of the vassal directories (inotify wakes the emperor at once where "
   "it is available; the scan is the fallback)."},
  {"emperor-nofollow", kFlag, "false", I,
   "Watch a symlinked vassal file's own mtime and size, not its target's."},
  {"emperor-throttle", kStr, "1000", I,
   "Delay before respawning a vassal that died before it was ready; doubles on each such "
   "death. A bare number is milliseconds, as in uWSGI (`2s` also accepted)."},
  {"emperor-max-throttle", kStr, "180000", I,
   "Upper bound of `emperor-throttle`'s doubling; milliseconds when bare, as in uWSGI."},
  {"emperor-tyrant", kFlag, "false", I,
   "Run each vassal as its file's owner and group (the emperor runs as root); root-owned "
   "files are refused."},
  {"emperor-tyrant-nofollow", kFlag, "false", I,
   "In tyrant mode take the owner of a symlinked vassal file from the link itself."},
  {"vassals-include", kList, "", I,
   "Read this ini file in every vassal after the vassal's own file (its options win)."},
  {"vassals-include-before", kList, "", I,
   "Read this ini file in every vassal before the vassal's own file."},
  {"vassals-inherit", kList, "", I,
   "A template every vassal reads before its own file (as `vassals-include-before`)."},
  {"vassal-set", kList, "", I,
   "Set `key=value` in every vassal, after its files (as `--key value` on its command line)."},
  {"emperor-stats", kStr, "", I,
   "Serve the emperor's state as one JSON document per connection on this address "
   "(`host:port`, or a unix socket path).", {"emperor-stats-server"}},
  // Emperor stats over HTTP (kiln's own; uWSGI's emperor has no HTTP side).
  {"emperor-stats-http", kFlag, "false", I,
   "kiln: speak HTTP on the `emperor-stats` address: the JSON for every path, plus GET "
   "/metrics (Prometheus, a `vassal` label per vassal file), /ready and /live."},
  {"emperor-graceful-shutdown", kFlag, "true", I,
   "Stop vassals gracefully when the emperor stops (kiln's default; `false` stops them at "
   "once with SIGINT)."},
  {"emperor-pidfile", kStr, "", I, "Write the emperor's pid to this file."},
  {"emperor-procname", kStr, "", I, "The emperor's process name as ps shows it."},
  {"emperor-on-demand-extension", kStr, "", N,
   "Accepted for uWSGI files; not supported: kiln's vassals bind their own sockets (they "
   "keep them across reloads), so they start at once instead of on the first connection."},
  // Logging
  {"logto", kStr, "", I, "Write the log to this file."},
  // logto2, log-route and locks (core/process/server.cc PointLogAfterDrop, core/log/route.h,
  // plugins/python/user_locks.h)
  {"logto2", kStr, "", I,
   "Write the log to this file, opened (and created) after privileges are dropped, as the "
   "`uid`/`gid` user. Lines before the drop go where they went (stderr, `daemonize`). "
   "Not together with `logto`."},
  {"log-route", kList, "", I,
   "`LOGGERNAME REGEX`: server log lines the regular expression (RE2 syntax, matched "
   "anywhere in the line) matches go to the logger named `logger = LOGGERNAME target` and "
   "not to the other loggers; a named logger gets nothing else. Repeat for more routes; a "
   "line that matches several goes to each of their loggers once. Request lines count as "
   "server lines while there is no `req-logger`."},
  {"locks", kNum, "0", I,
   "Make this many user locks besides lock 0, which always exists: the Python plugin's "
   "uwsgi.lock(n)/uwsgi.unlock(n) (n from 0 to `locks`) lock across every worker and thread "
   "(robust process-shared mutexes made before fork: a worker that dies holding one does "
   "not wedge the others)."},
  {"log-req-route", kList, "", I,
   "`LOGGERNAME REGEX`: as `log-route`, for request log lines. The logger is named in "
   "`req-logger` or `logger`."},
  {"logger", kList, "", I,
   "Send log lines to this logger: `file:/path` (plugin logfile), `syslog[:ident[,facility]]` "
   "(plugin syslog), `systemd[:ident]` (plugin journald), `stderr`, `stdout`, or a path. "
   "`NAME target` (NAME letters and digits) names the logger: it then gets only the lines "
   "`log-route` sends it."},
  {"req-logger", kList, "", I, "Send request log lines to this logger.", {"logger-req"}},
  {"log-master", kFlag, "false", N,
   "Accepted for uWSGI files; kiln needs no log master: every process writes whole lines "
   "with one write() to O_APPEND targets, so lines never interleave."},
  {"log-date", kStr, "", I,
   "Prefix log lines with the date (bare) or with this strftime format."},
  {"log-format", kStr, "", I,
   "Format of request log lines, with uWSGI's `%(var)` names. Request values are escaped "
   "(`\\xNN`; JSON-escaped when the format starts with `{` or a `format {...}` request "
   "encoder wraps it).", {"logformat"}},
  {"log-encoder", kList, "", I,
   "Encode each server log line (and request lines that go to the server log): `json "
   "{\"msg\":\"${msg}\"}`, `format TEMPLATE`, `prefix TEXT`, `suffix TEXT`, `nl`; repeat to "
   "chain. Templates know ${msg}, ${msgnl}, ${unix}, ${millis}, ${micros}, "
   "${strftime:FORMAT}; `json` escapes them per RFC 8259."},
  {"log-req-encoder", kList, "", I,
   "Encode each request log line; as `log-encoder`."},
  {"log-4xx", kFlag, "false", I,
   "Log requests answered 4xx even when request logging is off."},
  {"log-5xx", kFlag, "false", I,
   "Log requests answered 5xx even when request logging is off."},
  {"disable-logging", kFlag, "false", I, "Do not log requests."},
  {"request-log-buffer", kSize, "4096", I,
   "kiln: bytes of request log lines a serving thread collects and writes with one write() "
   "per file, when the batch is full or its oldest line waited 100 ms. 0 writes each line "
   "at once."},
  {"touch-logreopen", kList, "", I,
   "Reopen log files when this file's modification time changes."},
  {"log-truncate", kFlag, "false", I,
   "Empty the logto file when kiln starts (not when it reloads)."},
  {"logfile-chmod", kStr, "", I, "Permissions of log files kiln creates."},
  {"logfile-chown", kFlag, "false", I, "Give log files kiln creates to uid/gid."},
  // Log rotation and slow-request logging (core/log/rotate.h, request_log.h)
  {"log-maxsize", kSize, "0", I,
   "Rotate each log file (logto, daemonize, `logger`/`req-logger` files) once it is larger "
   "than this many bytes: the master renames it to `<file>.<unix seconds>` and every process "
   "reopens. 0: never. Needs `master`."},
  {"log-backupname", kStr, "", I,
   "Rename the logto/daemonize file to this name when it is rotated (replacing the previous "
   "backup), instead of `<file>.<unix seconds>`."},
  {"log-backupcount", kNum, "0", I,
   "kiln: keep at most this many rotated copies of each log file, removing the oldest. "
   "0 keeps them all."},
  {"log-slow", kNum, "0", I,
   "Log requests that took at least this many milliseconds even when request logging is off "
   "(`disable-logging`). 0: off."},
  // Operations options of uWSGI files: phase hooks, cron, pidfiles, limits (smallopts;
  // docs/operations.md "Start-up hooks, cron and the smaller process options").
  {"lazy", kFlag, "false", I,
   "Load the application in each worker after fork, as `lazy-apps` (uWSGI's older name; "
   "SIGHUP still reloads the whole server gracefully: docs/decisions.md)."},
  {"chdir2", kStr, "", I,
   "Change to this directory in each worker after the application is loaded."},
  {"close-on-exec", kFlag, "false", N,
   "Accepted for uWSGI files; every descriptor kiln opens (listen sockets, connections, "
   "files) is already close-on-exec, so a process an app spawns inherits none of them."},
  {"no-orphans", kFlag, "false", N,
   "Accepted for uWSGI files; kiln's workers always die with the master (each sets "
   "PR_SET_PDEATHSIG), so none is left serving without it."},
  {"limit-as", kSize, "0", I,
   "Limit every process's address space (RLIMIT_AS) to this size (bare numbers are MiB; "
   "0: unchanged).", {}, false, kMiB},
  {"safe-pidfile", kStr, "", I,
   "Write the master's pid to this file too, before privileges are dropped (kiln writes "
   "every pidfile safely: a new file renamed into place)."},
  {"pidfile2", kStr, "", I,
   "Write the master's pid to this file after privileges are dropped, as the user."},
  {"safe-pidfile2", kStr, "", I,
   "As pidfile2 (written after privileges are dropped, safely)."},
  {"max-requests-delta", kNum, "0", I,
   "Worker N recycles after max-requests + (N-1) * this many requests, so the workers do "
   "not all recycle at once."},
  {"procname-prefix-spaced", kStr, "", I,
   "Prefix every process name with this text and a space."},
  {"protocol", kStr, "uwsgi", I,
   "What `socket` addresses speak: `uwsgi` or `http`.", {"socket-protocol"}},
  {"cap", kList, "", I,
   "Keep these Linux capabilities (comma list: `net_bind_service,sys_nice`, ...) after "
   "dropping privileges to uid."},
  {"cron", kList, "", I,
   "The master runs a command on a schedule: `minute hour day month weekday command`; -1 "
   "is any, -N every N (`-5 -1 -1 -1 -1 cmd`: every 5 minutes). Needs master."},
  {"cron2", kList, "", I,
   "cron in key=value form: `minute=-5,hour=3,unique=1 command` (missing keys are -1; "
   "unique: not again while the last run is alive)."},
  {"static-safe", kList, "", I,
   "A directory static-map may serve files from when a symlink under the mapped directory "
   "leads there (otherwise such a file is refused with 403)."},
  {"reload-on-exception", kFlag, "false", I,
   "Recycle a worker gracefully after a request whose application raised an exception "
   "(the Python plugin reports them)."},
  {"attach-daemon2", kList, "", I,
   "attach-daemon in key=value form: `cmd=COMMAND` (kiln supports the `cmd` key only)."},
  {"hook-asap", kList, "", I,
   "Run this hook (`action:argument`, e.g. `exec:/path/script`) as soon as the "
   "configuration is read. Actions: exec, safeexec, print, log, mkdir, unlink, write, "
   "writen, append, appendn, create, chdir, putenv, exit, unix_signal."},
  {"hook-pre-jail", kList, "", I,
   "Run this hook on the first start, once logging is set up, before binding sockets."},
  {"hook-in-jail", kList, "", I,
   "Run this hook after hook-pre-jail, before binding sockets."},
  {"hook-post-jail", kList, "", N,
   "Accepted for uWSGI files; uWSGI runs it only in a jail and kiln has none, so it never "
   "runs."},
  {"hook-as-root", kList, "", I,
   "Run this hook just before privileges are dropped (only when started as root)."},
  {"hook-as-user", kList, "", I, "Run this hook just after privileges are dropped."},
  {"hook-as-user-atexit", kList, "", I,
   "Run this hook in the master (or the only process) when the server exits, and before the "
   "master re-executes for a reload; a failure is logged."},
  {"hook-pre-app", kList, "", I,
   "Run this hook before the application is loaded (in each worker with lazy-apps)."},
  {"hook-post-app", kList, "", I,
   "Run this hook after the application is loaded (in each worker with lazy-apps)."},
  {"hook-post-fork", kList, "", I, "Run this hook in each worker after it is forked."},
  {"hook-accepting", kList, "", I,
   "Run this hook in each worker when it starts accepting requests."},
  {"hook-accepting1", kList, "", I,
   "Run this hook in worker 1 when it starts accepting requests."},
  {"hook-accepting-once", kList, "", I,
   "Run this hook in each worker when it first accepts requests (not after a respawn)."},
  {"hook-accepting1-once", kList, "", I,
   "Run this hook in worker 1 when it first accepts requests (not after a respawn)."},
  {"hook-master-start", kList, "", I,
   "Run this hook in the master once it has forked the workers."},
  {"hook-as-vassal", kList, "", N,
   "Accepted for uWSGI files; uWSGI's emperor runs it before a vassal starts; kiln's emperor "
   "runs no hooks, so it never runs."},
  {"exec-asap", kList, "", I,
   "Run this command (/bin/sh -c) where hook-asap runs; a non-zero exit stops the start."},
  {"exec-pre-jail", kList, "", I, "Run this command where hook-pre-jail runs."},
  {"exec-in-jail", kList, "", I, "Run this command where hook-in-jail runs."},
  {"exec-post-jail", kList, "", N,
   "Accepted for uWSGI files; as hook-post-jail, never runs (kiln has no jail)."},
  {"exec-as-root", kList, "", I, "Run this command where hook-as-root runs."},
  {"exec-as-user", kList, "", I, "Run this command where hook-as-user runs."},
  {"exec-as-user-atexit", kList, "", I,
   "Run this command where hook-as-user-atexit runs."},
  {"exec-pre-app", kList, "", I, "Run this command where hook-pre-app runs."},
  {"exec-post-app", kList, "", I, "Run this command where hook-post-app runs."},
  {"exec-as-vassal", kList, "", N,
   "Accepted for uWSGI files; as hook-as-vassal, never runs (kiln's emperor runs no hooks)."},
  // The rest of the uWSGI options real files use (docs/operations.md "More uWSGI options"):
  // implemented, or accepted where kiln already does what they ask.
  {"max-fd", kNum, "0", I,
   "Set the open file limit (RLIMIT_NOFILE, soft and hard) of every process (0: unchanged); "
   "a limit that cannot be set is a warning, as in uWSGI."},
  {"no-defer-accept", kFlag, "false", I,
   "Do not set TCP_DEFER_ACCEPT on TCP sockets: accept connections before their first bytes "
   "arrive."},
  {"log-micros", kFlag, "false", I,
   "Give the request time of the default request line in microseconds (`in N micros`)."},
  {"logformat-strftime", kFlag, "false", I,
   "Pass log-format's own text through strftime (the request's start, local time): "
   "`[%d/%m/%Y %H:%M:%S] %(method) %(uri)`; request values are never formatted.",
   {"log-format-strftime"}},
  {"log-sendfile", kFlag, "false", I,
   "Log requests whose response was sent with sendfile (static files, wsgi.file_wrapper) even "
   "when request logging is off (`disable-logging`)."},
  {"log-x-forwarded-for", kFlag, "false", I,
   "Log the X-Forwarded-For header (when the request has one) as the client address, in the "
   "default request line and %(addr)."},
  {"add-header", kList, "", I,
   "Add this header (`Name: value`) to every response, after the application's own."},
  {"static-gzip-all", kFlag, "false", I,
   "static-map: answer a client that accepts gzip with FILE.gz when it exists "
   "(Content-Encoding: gzip)."},
  {"static-expires", kList, "", I,
   "static-map: `REGEX SECONDS` sets Expires to the request time plus SECONDS on files whose "
   "real path matches REGEX (the first match wins)."},
  {"reaper", kFlag, "false", N,
   "Accepted for uWSGI files; kiln's master always reaps its exited children at once."},
  {"log-reopen", kFlag, "false", N,
   "Accepted for uWSGI files; a kiln reload re-executes the master, which opens every log "
   "file again (`touch-logreopen` and the FIFO's `l` reopen them without a reload)."},
  {"honour-stdin", kFlag, "false", N,
   "Accepted for uWSGI files; kiln leaves stdin as it was given (only `daemonize` points it "
   "at /dev/null), which is what this asks uWSGI for."},
  // Alarms (docs/operations.md "Alarms and carbon"; core/process/alarms.h)
  {"alarm", kList, "", I,
   "Define an alarm: `NAME ACTION:ARG`. Actions: `cmd:COMMAND` runs COMMAND with /bin/sh, the "
   "alarm message on its stdin; `log:TEXT` writes `ALARM: TEXT message` to the log. Needs "
   "master."},
  {"alarm-freq", kDur, "3", I,
   "The same alarm with the same message is raised at most once per this long (uWSGI's "
   "anti-loop)."},
  {"alarm-segfault", kList, "", I,
   "Raise this alarm when a worker is killed by SIGSEGV or SIGFPE.", {"segfault-alarm"}},
  {"alarm-listen-queue", kList, "", I,
   "Raise this alarm when a socket's listen queue is full (checked every second).",
   {"alarm-backlog", "backlog-alarm", "lq-alarm", "alarm-lq", "listen-queue-alarm"}},
  {"log-alarm", kList, "", I,
   "Raise these alarms when a server log line matches the regex: `NAME[,NAME...] REGEX` "
   "(ECMAScript syntax, searched anywhere in the line).", {"alarm-log"}},
  {"not-log-alarm", kList, "", I,
   "A log line matching this regex raises no log-alarm: `NAME[,NAME...] REGEX`.",
   {"not-alarm-log"}},
  // Carbon (docs/operations.md "Alarms and carbon"; core/process/carbon.h)
  {"carbon", kList, "", I,
   "Push the metrics to this carbon (Graphite plaintext) server, `HOST:PORT`, every "
   "carbon-freq. Needs master."},
  {"carbon-freq", kDur, "60", I, "How often the master pushes to the carbon servers."},
  {"carbon-timeout", kDur, "3", I,
   "A push that has not connected and been sent within this long is dropped."},
  {"carbon-id", kStr, "", I,
   "The instance's name in the metric paths (default: the first socket's address, dots made "
   "underscores)."},
  {"carbon-root", kStr, "uwsgi", I, "The first node of every metric path."},
  {"carbon-hostname-dots", kStr, "", I,
   "Replace the dots of the hostname in the metric paths with this character."},
  {"carbon-no-workers", kFlag, "false", I, "Push no per-worker metrics."},
  {"http-auto-chunked", kFlag, "false", N,
   "Accepted for uWSGI files; kiln always sends an HTTP/1.1 response that has no "
   "Content-Length chunked."},
  // PROXY protocol on HTTP sockets (docs/operations.md, The PROXY protocol)
  {"http-enable-proxy-protocol", kFlag, "false", I,
   "Every connection to an HTTP socket begins with a PROXY protocol header (v1 or v2) from the "
   "proxy in front; its client address becomes REMOTE_ADDR and the logged address. A "
   "connection without a valid header is closed.", {"enable-proxy-protocol"}},
  {"proxy-protocol-from", kList, "", I,
   "Only these peers (addresses or CIDR ranges, comma or space separated) send a PROXY header; "
   "others speak plain HTTP and a PROXY line from them is a bad request (default: any peer)."},
  // The spooler (docs/spooler.md): processes the master runs beside the workers, each taking
  // the tasks the application writes with uwsgi.spool() from a directory.
  {"spooler", kList, "", I,
   "Run spooler processes on this directory (repeatable; created mode 0700 if missing): "
   "they run the tasks the application writes with uwsgi.spool()."},
  {"spooler-processes", kNum, "1", I, "Number of spooler processes for each `spooler` "
   "directory."},
  {"spooler-frequency", kDur, "30", I, "Seconds between two scans of a spooler directory "
   "(a task written by kiln wakes the spooler at once).", {"spooler-freq"}},
  {"spooler-harakiri", kDur, "0", I, "Kill a spooler process whose task runs longer than "
   "this (0: never); the task stays and runs again."},
  {"spooler-ordered", kFlag, "false", I, "Run a spooler's tasks in name order (priority "
   "subdirectories first, lowest number first)."},
  {"spooler-quiet", kFlag, "false", I, "Do not log a line for each task written, started "
   "and done."},
  // WebSocket connections of ASGI apps (docs/websocket.md).
  {"websocket-max-size", kSize, "16m", I,
   "Largest WebSocket message a client may send, fragments together; a larger one is "
   "refused with close code 1009 (bare numbers are KiB, as in uWSGI).",
   {"websockets-max-size"}, false, kKiB},
  // WebSocket permessage-deflate (RFC 7692; docs/websocket.md).
  {"websocket-per-message-deflate", kFlag, "true", I,
   "Compress WebSocket messages with permessage-deflate (RFC 7692) when the client offers it "
   "(uvicorn's --ws-per-message-deflate). Costs some 50 KiB of zlib state per connection and "
   "the serving thread's CPU; false answers every handshake without the extension."},
  // WebSocket keepalive pings (uWSGI 2.0's websocket-ping-freq and websocket-pong-tolerance;
  // docs/python.md, "WebSocket").
  {"websocket-ping-freq", kDur, "30", I,
   "Send a ping to a WebSocket client kiln has heard nothing from for this long (0: never "
   "ping); a client busy sending is never pinged.", {"websockets-ping-freq"}},
  {"websocket-pong-tolerance", kDur, "3", I,
   "Close a pinged WebSocket connection (close code 1011; the app hears 1006) when nothing "
   "at all, pong or any other frame, arrives this long after the ping (0, as uWSGI's "
   "whole-second clock reads it: 1 s).",
   {"websockets-pong-tolerance"}},
  {"http-websockets", kFlag, "false", N,
   "Accepted for uWSGI files: kiln upgrades a WebSocket request to an ASGI app on any "
   "`http-socket` without it."},
  };
  return *rows;
}
// clang-format on

}  // namespace

std::vector<OptionSpec> CoreOptionTable() {
  std::vector<OptionSpec> specs;
  specs.reserve(Rows().size());
  for (const Row& row : Rows()) {
    OptionSpec spec;
    spec.name = row.name;
    spec.kind = row.kind;
    spec.default_value = row.default_value;
    spec.help = row.help;
    spec.owner = "core";
    spec.state = row.state;
    spec.aliases = row.aliases;
    spec.comma_list = row.comma_list;
    spec.size_unit = row.size_unit;
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace kiln::config
