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
  bool need_app = true;
  bool lazy_apps = false;
  absl::Duration harakiri;
  bool harakiri_verbose = false;
  uint64_t max_requests = 0;
  uint64_t reload_on_rss_bytes = 0;
  absl::Duration max_worker_lifetime;
  absl::Duration min_worker_lifetime = absl::Seconds(10);
  absl::Duration reload_mercy = absl::Seconds(60);
  absl::Duration worker_reload_mercy = absl::Seconds(60);
  bool die_on_term = true;
  std::vector<std::string> touch_reload;
  std::vector<std::string> touch_logreopen;
  std::string procname_prefix;
  bool auto_procname = false;
  std::vector<std::string> attach_daemons;
  // The stats server (stats_server.h): its address ("" for none), HTTP mode, compact JSON.
  std::string stats;
  bool stats_http = false;
  bool stats_minified = false;

  // Reads and validates the options; errors name the option and its value.
  static absl::StatusOr<ServerOptions> FromConfig(const config::Config& cfg);
};

// Parses every socket option value into SocketSpecs (pure).
absl::StatusOr<std::vector<SocketSpec>> ParseSockets(const std::vector<std::string>& uwsgi,
                                                     const std::vector<std::string>& http);

}  // namespace kiln::process
