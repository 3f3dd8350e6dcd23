// uWSGI's carbon plugin in the master: every carbon-freq it connects to each `carbon` server
// (non-blocking, within carbon-timeout) and sends Graphite plaintext lines
// `ROOT.HOSTNAME.ID.METRIC VALUE TIMESTAMP` with the carbon plugin's metric names, read from the
// scoreboard (the counters the stats server shows). Lives in the master's poll loop.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/unique_fd.h"
#include "core/process/scoreboard.h"

namespace kiln::config {
class Config;
}

namespace kiln::process {

class Master;

struct CarbonOptions {
  std::vector<std::string> servers;  // HOST:PORT
  absl::Duration freq = absl::Seconds(60);
  absl::Duration timeout = absl::Seconds(3);
  std::string id;  // "" : the first socket's address, dots made underscores
  std::string root = "uwsgi";
  std::string hostname_dots;  // the first character replaces the dots of the hostname
  bool no_workers = false;
};

absl::StatusOr<CarbonOptions> ReadCarbonOptions(const config::Config& cfg);

// What one push reads besides the scoreboard.
struct CarbonSample {
  int64_t now_unix = 0;
  bool memory_report = false;  // rss_size/vsz_size lines, as uWSGI under memory-report
  bool cheaper = false;        // cheaped_workers line
};

// The carbon plugin's busyness state per worker (index 0 is worker 1): the running time seen at
// the last push, and how many pushes found the worker busy since.
struct CarbonState {
  std::vector<uint64_t> last_running_ns;
  std::vector<int> was_busy;
};
// The lines of one push (exposed for tests); updates `state`.
std::string CarbonLines(const std::string& prefix, const Scoreboard& sb, const CarbonSample& s,
                        absl::Duration freq, bool no_workers, CarbonState* state);

class Carbon {
 public:
  // Resolves the servers (once, at start: the master never waits on DNS later). Null without
  // `carbon`. `first_socket` names the instance when carbon-id is not set.
  static absl::StatusOr<std::unique_ptr<Carbon>> Start(const CarbonOptions& options,
                                                       Master& master, const Scoreboard& sb,
                                                       const std::string& first_socket,
                                                       bool memory_report, bool cheaper);
  ~Carbon();
  Carbon(const Carbon&) = delete;
  Carbon& operator=(const Carbon&) = delete;

  void Tick(int64_t now_ns);

 private:
  struct Server {
    std::string text;
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    base::UniqueFd fd;  // the push in flight; closed when done
    std::string out;
    size_t sent = 0;
    int64_t deadline_ns = 0;
    bool connected = false;
  };
  Carbon(const CarbonOptions& options, Master& master, const Scoreboard& sb);
  void Push(int64_t now_ns);
  void OnReady(Server& s, short revents);
  void Finish(Server& s, const std::string& error);

  CarbonOptions o_;
  Master& master_;
  const Scoreboard& sb_;
  std::string prefix_;  // "uwsgi.HOSTNAME.ID."
  bool memory_report_ = false;
  bool cheaper_ = false;
  CarbonState state_;
  std::vector<std::unique_ptr<Server>> servers_;
  int64_t next_push_ns_ = 0;
};

}  // namespace kiln::process
