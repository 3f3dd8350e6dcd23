// The emperor's state as uWSGI's emperor stats document (the same keys, so tools written for
// uWSGI's emperor read it), as Prometheus metrics with a `vassal` label, and the
// `emperor-stats` server that answers from the emperor's poll loop without ever blocking it:
// one document per connection, or with `emperor-stats-http` the instance stats server's HTTP
// side (process/stats_http.h): the document on every path, /metrics, /ready and /live.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"
#include "core/process/stats_http.h"

namespace kiln::emperor {

// One vassal file. The JSON lists those with a running process (as uWSGI); the metrics and
// /ready every file the emperor knows.
struct VassalStats {
  std::string id;  // the file's name
  pid_t pid = 0;   // 0 while not running
  // Unix seconds, 0 for never.
  int64_t born = 0;
  int64_t last_mod = 0;
  int64_t last_heartbeat = 0;
  bool loyal = false;
  bool ready = false;
  bool accepting = false;
  int64_t last_loyal = 0;
  int64_t last_ready = 0;
  int64_t last_accepting = 0;
  int64_t first_run = 0;
  int64_t last_run = 0;
  int64_t cursed = 0;  // when it was asked to stop
  uid_t uid = 0;
  gid_t gid = 0;
  std::string monitor;  // the `emperor` source that found it
  int respawns = 0;
  // Beyond uWSGI's keys, for the metrics and /ready.
  bool blacklisted = false;  // died before it was ever ready; retried after throttle_ms
  bool refused = false;      // not run (tyrant mode refused its owner)
  bool stopping = false;     // asked to stop for good (its file went, or the emperor stops)
  int64_t throttle_ms = 0;
  int attempt = 0;  // deaths before ready, in a row
};

struct BlacklistStats {
  std::string id;
  int64_t throttle_level = 0;  // current delay before the next attempt, milliseconds
  int attempt = 0;
  int64_t first_attempt = 0;
  int64_t last_attempt = 0;
};

struct EmperorStats {
  std::string version;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string cwd;
  std::vector<std::string> emperor;  // the sources
  bool tyrant = false;
  int64_t throttle_level = 0;  // the highest blacklist delay, milliseconds
  bool stopping = false;       // the emperor is stopping every vassal
  std::vector<VassalStats> vassals;
  std::vector<BlacklistStats> blacklist;
};

// Pure: the JSON document, keys as uWSGI 2.0 writes them (booleans as 0/1, times as unix
// seconds), strings escaped per RFC 8259.
std::string EmperorStatsJson(const EmperorStats& s);

// Pure: the Prometheus text exposition (format 0.0.4) for /metrics: per vassal file
// `kiln_vassal_*{vassal="<file name>"}`, and the emperor's own `kiln_emperor_*`.
std::string EmperorMetricsText(const EmperorStats& s);

// /ready: the emperor runs and no vassal file is still on its way up: each has a vassal that
// was ready since it started (one reloading still serves on its old generation), or is
// blacklisted, or refused. Those two are failures an operator sees in the metrics; they do
// not hold the others' readiness hostage.
process::Readiness EmperorReadiness(const EmperorStats& s);

// The listening side. Accepts, reads the request (HTTP mode), queues the answer and writes it
// as the socket takes it; a client that has not taken its answer within 5 s is dropped, and
// at most 64 are served at once.
class StatsServer {
 public:
  // `address`: host:port (IPv4, or [v6]:port) or a unix socket path (an existing socket
  // file there is replaced, never another kind of file). `http`: answer HTTP requests.
  absl::Status Open(const std::string& address, bool http);
  bool open() const { return static_cast<bool>(listen_); }
  // Appends the descriptors to poll; OnPoll takes them back (same order) after poll.
  void AddPollFds(std::vector<pollfd>* fds) const;
  // `stats` is asked for at most once, and only when a client is to be answered.
  void OnPoll(const pollfd* fds, int64_t now_ns, const std::function<EmperorStats()>& stats);
  void Close();

 private:
  struct Client {
    base::UniqueFd fd;
    std::string in;  // the HTTP request head so far
    std::string out;
    size_t sent = 0;
    bool writing = false;
    int64_t deadline_ns = 0;
  };
  // Writes what the socket takes; false when the client is done (all sent) or gone.
  static bool Send(Client& c);

  bool http_ = false;

  base::UniqueFd listen_;
  std::string unix_path_;  // removed at Close
  std::vector<Client> clients_;
};

}  // namespace kiln::emperor
