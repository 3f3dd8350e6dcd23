// Scoreboard mapping and slot arithmetic.
#include "core/process/scoreboard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>

#include "core/base/check.h"
#include "core/base/errno_status.h"
#include "core/base/unique_fd.h"

namespace kiln::process {
namespace {

// The instance slot's share of the region, keeping the worker slots cache-line aligned.

}  // namespace

size_t Scoreboard::WorkerStride() const {
  return sizeof(WorkerSlot) + static_cast<size_t>(cores_) * sizeof(CoreSlot);
}

absl::StatusOr<Scoreboard> Scoreboard::Create(int workers, int cores) {
  if (workers < 1 || cores < 1) {
    return absl::InvalidArgumentError("scoreboard needs at least one worker and one core");
  }
  size_t stride = sizeof(WorkerSlot) + static_cast<size_t>(cores) * sizeof(CoreSlot);
  size_t size = stride * static_cast<size_t>(workers);
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    return base::ErrnoError(errno, "mmap", "scoreboard");
  }
  Scoreboard sb(base, size, workers, cores);
  for (int w = 1; w <= workers; ++w) {
    new (&sb.worker(w)) WorkerSlot();
    for (int c = 0; c < cores; ++c) {
      new (&sb.core(w, c)) CoreSlot();
    }
  }
  return sb;
}

Scoreboard::Scoreboard(Scoreboard&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      size_(other.size_),
      workers_(other.workers_),
      cores_(other.cores_) {}

Scoreboard& Scoreboard::operator=(Scoreboard&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) {
      munmap(base_, size_);
    }
    base_ = std::exchange(other.base_, nullptr);
    size_ = other.size_;
    workers_ = other.workers_;
    cores_ = other.cores_;
  }
  return *this;
}

Scoreboard::~Scoreboard() {
  if (base_ != nullptr) {
    munmap(base_, size_);
  }
}

WorkerSlot& Scoreboard::worker(int worker_id) const {
  KILN_CHECK(worker_id >= 1 && worker_id <= workers_, "worker id out of range");
  char* p = static_cast<char*>(base_) +
            WorkerStride() * static_cast<size_t>(worker_id - 1);
  return *reinterpret_cast<WorkerSlot*>(p);
}

CoreSlot& Scoreboard::core(int worker_id, int core_id) const {
  KILN_CHECK(core_id >= 0 && core_id < cores_, "core id out of range");
  char* p = reinterpret_cast<char*>(&worker(worker_id)) + sizeof(WorkerSlot) +
            sizeof(CoreSlot) * static_cast<size_t>(core_id);
  return *reinterpret_cast<CoreSlot*>(p);
}

void Scoreboard::Reset(int worker_id) const {
  WorkerSlot& w = worker(worker_id);
  w.pid = 0;
  w.state = static_cast<int32_t>(WorkerState::kEmpty);
  w.requests = 0;
  w.rss_bytes = 0;
  w.response_bytes = 0;
  w.recycle_reason = 0;
  w.recycle_value = 0;
  w.cheap = 0;
  w.exceptions = 0;
  w.running_ns = 0;
  w.vsz_bytes = 0;
  w.spawned_unix_s = 0;
  for (int c = 0; c < cores_; ++c) {
    CoreSlot& cs = core(worker_id, c);
    cs.request_start_ns = 0;
    cs.requests = 0;
    cs.static_requests = 0;
    cs.write_errors = 0;
    cs.read_errors = 0;
  }
}

std::optional<WorkerSnapshot> Scoreboard::Snapshot(int worker_id) const {
  if (worker_id < 1 || worker_id > workers_) {
    return std::nullopt;
  }
  const WorkerSlot& w = worker(worker_id);
  WorkerSnapshot s;
  s.pid = w.pid.load();
  s.state = static_cast<WorkerState>(w.state.load());
  s.requests = w.requests.load();
  s.rss_bytes = w.rss_bytes.load();
  for (int c = 0; c < cores_; ++c) {
    int64_t start = core(worker_id, c).request_start_ns.load();
    if (start != 0 && (s.request_start_ns == 0 || start < s.request_start_ns)) {
      s.request_start_ns = start;
    }
  }
  s.busy = s.request_start_ns != 0;
  return s;
}

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

size_t DurationBucket(int64_t duration_ns) {
  const double s = static_cast<double>(duration_ns) / 1e9;
  size_t i = 0;
  while (i + 1 < kDurationBucketCount && s > kDurationBuckets[i]) {
    ++i;
  }
  return i;
}

uint64_t CurrentRssBytes() { return ProcessMemory(0).rss_bytes; }

MemoryUse ProcessMemory(pid_t pid) {
  char path[64];
  if (pid == 0) {
    std::snprintf(path, sizeof(path), "/proc/self/statm");
  } else {
    std::snprintf(path, sizeof(path), "/proc/%d/statm", static_cast<int>(pid));
  }
  base::UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return {};
  }
  char buf[128];
  ssize_t n = read(fd.Get(), buf, sizeof(buf) - 1);
  if (n <= 0) {
    return {};
  }
  buf[n] = '\0';
  unsigned long long size_pages = 0;
  unsigned long long rss_pages = 0;
  if (std::sscanf(buf, "%llu %llu", &size_pages, &rss_pages) != 2) {
    return {};
  }
  const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return MemoryUse{rss_pages * page, size_pages * page};
}

}  // namespace kiln::process
