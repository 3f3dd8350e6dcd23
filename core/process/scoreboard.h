// The scoreboard: one anonymous MAP_SHARED region made by the master before it forks, with
// a slot per worker and per worker thread (core). Workers write their own slots; the master
// reads them for harakiri, recycling, readiness and stats. Lock-free atomics only.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"

namespace kiln::process {

enum class WorkerState : int32_t { kEmpty = 0, kStarting, kReady, kStopping };

// "GET /path from 127.0.0.1:5000", truncated, NUL-terminated: the request a core runs.
inline constexpr size_t kRequestTextSize = 256;

struct CoreSlot {
  std::atomic<int64_t> request_start_ns{0};  // monotonic; 0 when idle
  std::atomic<uint64_t> requests{0};
  // The stats server's per-core counters (uWSGI's names): static-map answers, responses
  // whose write failed, requests whose body read failed.
  std::atomic<uint64_t> static_requests{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> read_errors{0};
  // Written by the worker before request_start_ns is set; read by the master for harakiri:
  // the request's own bytes (any byte, NUL included, cut at the size) and how many there are.
  char request[kRequestTextSize] = {};
  std::atomic<uint32_t> request_len{0};
};

// Upper bounds (seconds) of the request-duration histogram each worker keeps for /metrics;
// a last, implicit bucket holds everything above the largest.
inline constexpr double kDurationBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,    10};
inline constexpr size_t kDurationBucketCount = sizeof(kDurationBuckets) / sizeof(double) + 1;

struct WorkerSlot {
  std::atomic<int32_t> pid{0};
  std::atomic<int32_t> state{0};  // WorkerState
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> rss_bytes{0};
  std::atomic<uint64_t> response_bytes{0};
  std::atomic<uint64_t> harakiri_count{0};
  // Set by a worker that finishes on its own because a recycling limit was reached (a
  // RecycleReason: max-requests, reload-on-rss), before it stops, so the master logs its exit
  // as a planned recycle and not as a death. `recycle_value` is what crossed the limit
  // (requests served, or rss bytes). 0: the worker was not recycling.
  std::atomic<int32_t> recycle_reason{0};
  std::atomic<uint64_t> recycle_value{0};
  // 1 while cheaper mode keeps this slot empty (or is stopping its worker): stats say `cheap`.
  std::atomic<int32_t> cheap{0};

  // Stats counters of this process's life (cleared by Reset, as uWSGI's are at respawn).
  std::atomic<uint64_t> exceptions{0};     // requests the application failed (plugin error)
  std::atomic<uint64_t> running_ns{0};     // time spent inside requests
  std::atomic<uint64_t> vsz_bytes{0};      // with rss_bytes: filled under memory-report
  std::atomic<int64_t> spawned_unix_s{0};  // wall-clock time of the last spawn

  // Kept across respawns of the slot (Reset leaves them): what /metrics counts per worker
  // id, so a counter only goes back to zero when the master re-executes (a reload).
  std::atomic<uint64_t> respawn_count{0};  // spawns of this slot, the first included
  std::atomic<uint64_t> total_requests{0};
  std::atomic<uint64_t> total_exceptions{0};
  std::atomic<uint64_t> total_response_bytes{0};
  std::atomic<uint64_t> duration_buckets[kDurationBucketCount] = {};  // not cumulative
  std::atomic<uint64_t> duration_sum_ns{0};
};

// One worker's slot as readers outside the process layer see it (the plugin host's
// scoreboard_worker, stats): plain values copied from the atomics.
struct WorkerSnapshot {
  pid_t pid = 0;  // 0 when the slot is empty
  WorkerState state = WorkerState::kEmpty;
  bool busy = false;               // one of its cores is inside a request
  int64_t request_start_ns = 0;    // monotonic start of its oldest running request; 0 idle
  uint64_t requests = 0;
  uint64_t rss_bytes = 0;
};

// The histogram bucket a request of `duration_ns` falls in.
size_t DurationBucket(int64_t duration_ns);

class Scoreboard {
 public:
  // Maps a zeroed region for `workers` workers with `cores` threads each.
  static absl::StatusOr<Scoreboard> Create(int workers, int cores);
  Scoreboard(Scoreboard&& other) noexcept;
  Scoreboard& operator=(Scoreboard&& other) noexcept;
  Scoreboard(const Scoreboard&) = delete;
  Scoreboard& operator=(const Scoreboard&) = delete;
  ~Scoreboard();

  int workers() const { return workers_; }
  int cores() const { return cores_; }
  // worker_id is 1-based, as in the logs; core_id 0-based.
  WorkerSlot& worker(int worker_id) const;
  CoreSlot& core(int worker_id, int core_id) const;
  // Clears a worker's slots before a new process takes them.
  void Reset(int worker_id) const;
  // A copy of worker `worker_id`'s slots; nullopt outside 1..workers().
  std::optional<WorkerSnapshot> Snapshot(int worker_id) const;

 private:
  Scoreboard(void* base, size_t size, int workers, int cores)
      : base_(base), size_(size), workers_(workers), cores_(cores) {}
  size_t WorkerStride() const;

  void* base_ = nullptr;
  size_t size_ = 0;
  int workers_ = 0;
  int cores_ = 0;
};

// Monotonic clock in nanoseconds (the scoreboard's time base); async-signal-safe.
int64_t MonotonicNanos();
// Resident set size of this process in bytes (from /proc/self/statm), 0 when unknown.
uint64_t CurrentRssBytes();
// Resident set and virtual size of process `pid` (0: this process) from /proc/PID/statm;
// {0, 0} when unknown.
struct MemoryUse {
  uint64_t rss_bytes = 0;
  uint64_t vsz_bytes = 0;
};
MemoryUse ProcessMemory(pid_t pid);

}  // namespace kiln::process
