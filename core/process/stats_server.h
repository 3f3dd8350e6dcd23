// The stats server: `stats = ADDR` (an address with ':' is TCP, anything else a unix socket
// path). It lives in the master's poll loop and never blocks it: connections are accepted,
// answered from the scoreboard and closed; a reader too slow to take its answer within
// socket-timeout is dropped. Plain mode sends the uWSGI JSON on connect without reading;
// `stats-http` reads one HTTP request and answers GET /metrics (Prometheus), /ready, /live,
// and the JSON for every other path, as uWSGI does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/unique_fd.h"
#include "core/net/address.h"
#include "core/process/instance_stop.h"
#include "core/process/scoreboard.h"
#include "core/process/stats_document.h"

namespace kiln::process {

class Master;
struct BoundSocket;

struct StatsConfig {
  net::Address address;
  std::string text;  // as configured, for messages
  bool http = false;
  bool minified = false;
  std::optional<mode_t> mode;  // chmod-socket for a unix path (else 0600)
  absl::Duration timeout = absl::Seconds(4);
};

class StatsServer {
 public:
  // Binds the address (a stale unix socket file is replaced, a live one is an error) and
  // registers with the master's loop. `state` is read at each request.
  static absl::StatusOr<std::unique_ptr<StatsServer>> Start(
      const StatsConfig& config, Master& master, const Scoreboard& scoreboard,
      const std::vector<BoundSocket>& sockets, uint64_t reloads,
      std::function<InstanceState()> state);
  // Unwatches and closes every descriptor; removes the unix socket file it created.
  ~StatsServer();
  // In a forked worker: closes the inherited descriptors (the master alone serves stats, and a
  // worker holding the listen socket would keep the address taken across a reload).
  void CloseInChild();
  StatsServer(const StatsServer&) = delete;
  StatsServer& operator=(const StatsServer&) = delete;

 private:
  struct Conn {
    base::UniqueFd fd;
    std::string in;
    std::string out;
    size_t sent = 0;
    int64_t deadline_ns = 0;
    bool writing = false;
  };

  StatsServer(const StatsConfig& config, Master& master, const Scoreboard& scoreboard,
              const std::vector<BoundSocket>& sockets, uint64_t reloads,
              std::function<InstanceState()> state);
  void OnAccept();
  void OnConn(int fd, short revents);
  void OnTimer();
  std::string Answer(const std::string& request);
  // Writes what fits; closes the connection when everything was written or it failed.
  void Flush(int fd);
  void Close(int fd);
  StatsInput Input();
  std::vector<SocketStats> Sockets();

  StatsConfig config_;
  Master& master_;
  const Scoreboard& scoreboard_;
  const std::vector<BoundSocket>& sockets_;
  uint64_t reloads_;
  std::function<InstanceState()> state_;
  base::UniqueFd listen_;
  base::UniqueFd timer_;
  std::map<int, Conn> conns_;
  std::vector<uint64_t> last_requests_;
  std::vector<uint64_t> delta_requests_;
  uint64_t queue_errors_ = 0;
  int ticks_ = 0;
};

}  // namespace kiln::process
