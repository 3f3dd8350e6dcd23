// The process and socket settings RunServer needs, read once from the Config. Keeping them in
// a plain struct lets the master, the workers and the tests work without a Config.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/net/address.h"
#include "core/process/alarms.h"
#include "core/process/carbon.h"
#include "core/process/cron.h"
#include "core/process/hooks.h"
#include "core/process/cheaper.h"
#include "core/process/spooler.h"

namespace kiln::config {
class Config;
}

namespace kiln::process {

struct SocketSpec {
  std::string option;  // "socket", "http-socket" or "http", for messages
  std::string text;    // as written
  net::Address address;
  bool http = false;  // HTTP/1.1 instead of the uwsgi protocol
};

struct ServerOptions {
  bool master = false;
  int processes = 1;
  int threads = 1;
  std::vector<SocketSpec> sockets;
  int listen_backlog = 100;
  bool reuse_port = false;
  bool no_defer_accept = false;  // `no-defer-accept`: accept before the first bytes arrive
  std::optional<mode_t> umask;
  std::optional<mode_t> chmod_socket;
  std::string chown_socket;
  bool vacuum = false;
  std::string uid;
  std::string gid;
  std::string chdir;
  std::vector<std::string> env;
  std::vector<std::string> unenv;
  std::string pidfile;
  std::string daemonize;
  std::string logto;
  // The file fd 1/2 follow (logto, else the first file `logger`; "" for none): what
  // applications print lands in the server log.
  std::string stdio_log;
  // logto2: the file fd 1/2 follow once privileges are dropped, opened as the user kiln runs
  // as (uWSGI's logto2); "" for none.
  std::string logto2;
  bool need_app = true;
  bool lazy_apps = false;
  absl::Duration harakiri;
  bool harakiri_verbose = false;
  uint64_t max_requests = 0;
  uint64_t reload_on_rss_bytes = 0;
  uint64_t reload_on_as_bytes = 0;  // reload-on-as: the worker's address space (VmSize)
  absl::Duration max_worker_lifetime;
  absl::Duration min_worker_lifetime = absl::Seconds(10);
  absl::Duration reload_mercy = absl::Seconds(60);
  absl::Duration worker_reload_mercy = absl::Seconds(60);
  bool die_on_term = true;
  // Graceful stop: how long the workers go on accepting after SIGTERM (kiln's drain-delay).
  absl::Duration drain_delay = absl::ZeroDuration();
  std::vector<std::string> touch_reload;
  std::vector<std::string> touch_logreopen;
  std::string procname_prefix;
  bool auto_procname = false;
  std::vector<std::string> attach_daemons;
  // Cheaper, the master FIFO and chain reloads.
  CheaperOptions cheaper;
  std::vector<std::string> master_fifo;
  std::vector<std::string> touch_chain_reload;

  // Operations options from uWSGI files (docs/operations.md "Start-up hooks, cron and the
  // smaller process options").
  Hooks hooks;                  // hook-<phase> and exec-<phase>, in order, hooks first
  std::string chdir2;           // each worker changes here after its app is loaded
  uint64_t limit_as_bytes = 0;  // RLIMIT_AS of every process (0: unchanged)
  int64_t max_fd = 0;           // `max-fd`: RLIMIT_NOFILE of every process (0: unchanged)
  std::string safe_pidfile;     // written with the pidfile, before privileges are dropped
  std::string pidfile2;         // written after privileges are dropped, as the user
  std::string safe_pidfile2;
  uint64_t max_requests_delta = 0;  // worker N recycles at max-requests + (N-1) * delta
  bool reload_on_exception = false;  // a self-sent SIGTERM is a planned recycle
  std::vector<CronEntry> crons;
  std::vector<std::string> caps;  // capabilities kept across the privilege drop
  // The stats server (stats_server.h): its address ("" for none), HTTP mode, compact JSON.
  std::string stats;
  bool stats_http = false;
  bool stats_minified = false;
  SpoolerOptions spooler;  // spooler.h
  AlarmOptions alarms;  // alarm, log-alarm, alarm-segfault, alarm-listen-queue
  CarbonOptions carbon;  // carbon, carbon-freq, ...

  // Reads and validates the options; errors name the option and its value.
  static absl::StatusOr<ServerOptions> FromConfig(const config::Config& cfg);
};

// Parses every socket option value into SocketSpecs (pure).
// `default_http` is `protocol = http`: the `socket` addresses then speak HTTP too.
absl::StatusOr<std::vector<SocketSpec>> ParseSockets(const std::vector<std::string>& uwsgi,
                                                     const std::vector<std::string>& http,
                                                     bool default_http = false);

// The max-requests of worker `worker_id`: uWSGI's max-requests + (id - 1) * delta, so the
// workers do not all recycle at once (0 stays 0: no limit).
uint64_t MaxRequestsOfWorker(uint64_t max_requests, uint64_t delta, int worker_id);

// attach-daemon2's `key=value,...` form: the command it runs (keys command/cmd/exec); the
// keys kiln does not implement are named in the error.
absl::StatusOr<std::string> ParseAttachDaemon2(std::string_view text);

}  // namespace kiln::process
