// What the stats server answers, built from the scoreboard alone (the workers are never asked):
// the uWSGI 2.0.21-compatible JSON document (same keys, order and JSON types, so uwsgitop and
// uWSGI exporters read kiln), the Prometheus text exposition (format 0.0.4) of /metrics, and
// the readiness that /ready reports.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/process/instance_stop.h"
#include "core/process/scoreboard.h"
#include "core/process/stats_http.h"

namespace kiln::process {

// One listen socket as the stats show it.
struct SocketStats {
  std::string name;
  std::string proto;  // "uwsgi" or "http"
  uint64_t queue = 0;      // connections waiting in the accept queue now
  uint64_t max_queue = 0;  // the queue's limit (the backlog the kernel applies)
};

// Everything the documents need besides the scoreboard.
struct StatsInput {
  const Scoreboard* scoreboard = nullptr;
  std::vector<SocketStats> sockets;
  InstanceState state = InstanceState::kRunning;
  pid_t pid = 0;
  uint64_t reloads = 0;              // re-executions of the master since the first start
  uint64_t listen_queue_errors = 0;  // samples that found a queue full
  std::vector<uint64_t> delta_requests;  // per worker (index 0 is worker 1)
  bool pretty = true;                // uWSGI's indented layout (stats-minified: false)
};

// The uWSGI stats JSON.
std::string StatsJson(const StatsInput& in);
// The Prometheus text exposition for /metrics. Per-worker RSS is read from /proc here.
std::string MetricsText(const StatsInput& in);

// /ready: every configured worker accepting and the instance running (`why` when not:
// "stopping", "paused", "reloading: 1 of 2 workers ready").
Readiness CheckReadiness(const Scoreboard& scoreboard, InstanceState state);

}  // namespace kiln::process
