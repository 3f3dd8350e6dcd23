// Cheaper: the number of running workers follows the load, between `cheaper` and `processes`.
// Each second the master hands the policy a sample (workers running, busy, free slots, the
// listen queue) and the policy answers "spawn k", "stop one" or nothing. The algorithms are
// uWSGI 2.0's (core/master_utils.c: spare, backlog, manual; plugins/cheaper_busyness:
// busyness), kept free of processes and clocks so tables of samples test them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::process {

enum class CheaperAlgo { kSpare, kBacklog, kBusyness, kManual };

// Parses `cheaper-algo`; the error lists the algorithms kiln has.
absl::StatusOr<CheaperAlgo> ParseCheaperAlgo(std::string_view name);
std::string_view CheaperAlgoName(CheaperAlgo algo);

struct CheaperOptions {
  int min = 0;      // `cheaper`: 0 disables cheaper mode
  int max = 1;      // `processes`
  int initial = 0;  // `cheaper-initial`: workers at start (between min and max)
  int step = 1;     // `cheaper-step`: workers spawned at once
  int overload = 3; // `cheaper-overload`: seconds (spare, busyness) or queue length (backlog)
  CheaperAlgo algo = CheaperAlgo::kSpare;
  // busyness (percentages of the time a worker spends in requests; uWSGI's defaults)
  int busyness_min = 25;
  int busyness_max = 50;
  int busyness_multiplier = 10;
  int busyness_penalty = 2;
  int busyness_backlog_alert = 33;
  int busyness_backlog_multiplier = 3;
  int busyness_backlog_step = 1;
  int busyness_backlog_nonzero = 60;  // seconds
  bool busyness_verbose = false;

  bool enabled() const { return min > 0; }
};

// One second of the server as the master saw it.
struct CheaperSample {
  int active = 0;        // workers running and not being cheaped
  int busy = 0;          // of those, inside a request at the moment of the sample
  int cheap = 0;         // empty slots a spawn may fill (max - running)
  int busy_percent = 0;  // share of the last second the active workers were busy, averaged
  int64_t queue = 0;     // connections waiting in the listen queues
};

struct CheaperDecision {
  int spawn = 0;          // start this many workers
  bool stop_one = false;  // stop the oldest idle worker (gracefully)
  std::string why;        // for the log; empty when nothing happens

  bool operator==(const CheaperDecision& o) const {
    return spawn == o.spawn && stop_one == o.stop_one;
  }
};

class CheaperPolicy {
 public:
  virtual ~CheaperPolicy() = default;
  // Called once per second with that second's sample.
  virtual CheaperDecision Next(const CheaperSample& s) = 0;
};

std::unique_ptr<CheaperPolicy> MakeCheaperPolicy(const CheaperOptions& options);

// The settings line the master logs at start ("cheaper mode: spare, 1..4 workers, ...").
std::string DescribeCheaper(const CheaperOptions& options);

}  // namespace kiln::process
