// The process-wide logger: sink lists behind one mutex, line assembly, failure reports.
// One write() per line is the sinks' job; this file makes sure they get whole lines.
#include "core/log/logger.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <new>
#include <optional>
#include <utility>

#include "core/base/errno_status.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/log/file_sink.h"

namespace kiln::log {
namespace {

struct LoggerState {
  std::mutex mu;
  std::vector<std::unique_ptr<Sink>> server;   // empty: stderr
  std::vector<std::unique_ptr<Sink>> request;  // empty: the server log
  Level min_level = Level::kInfo;
  std::string date_format;
  int report_interval = 60;
  time_t last_report = 0;
  uint64_t reported_failures = 0;
  // Where fd 1 and 2 point (SetStdioTarget); empty: left alone.
  std::string stdio_path;
  FileOptions stdio_options;
  // Reopen requests shared with forked processes (EnableSharedReopen); null until enabled.
  std::atomic<uint64_t>* reopen_generation = nullptr;
  uint64_t reopen_seen = 0;
};

// The calling thread's request-log batch (SetRequestBatch).
struct RequestBatch {
  std::string lines;
  size_t count = 0;
  size_t limit = 0;  // 0: off
  int64_t since_ns = 0;
};
thread_local RequestBatch tl_batch;

int64_t MonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

LoggerState& State() {
  // Never destroyed: workers log until _exit, and destructors of other statics may log.
  static LoggerState* state = new LoggerState;
  return *state;
}

// Writes to fd 2 with one write(); the fallback that needs no sink.
void WriteStderr(std::string_view line) {
  ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  (void)n;
}

std::string Prefix(const LoggerState& st, Level level) {
  std::string out;
  if (!st.date_format.empty()) {
    char buf[128];
    time_t now = ::time(nullptr);
    struct tm tm;
    ::localtime_r(&now, &tm);
    // The format is the operator's log-date setting, not a literal.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = ::strftime(buf, sizeof(buf), st.date_format.c_str(), &tm);
#pragma GCC diagnostic pop
    out.append(buf, n);
    out.push_back(' ');
  }
  if (level == Level::kWarning) {
    out += "warning: ";
  } else if (level == Level::kError) {
    out += "error: ";
  }
  return out;
}

void WriteLinesTo(std::vector<std::unique_ptr<Sink>>& sinks, std::string_view lines,
                  size_t count) {
  if (sinks.empty()) {
    WriteStderr(lines);
    return;
  }
  for (auto& sink : sinks) {
    sink->WriteLines(lines, count);
  }
}

void WriteTo(std::vector<std::unique_ptr<Sink>>& sinks, std::string_view line) {
  if (sinks.empty()) {
    WriteStderr(line);
    return;
  }
  for (auto& sink : sinks) {
    sink->Write(line);
  }
}

// Called with the mutex held: tells stderr about lines lost since the last report.
void MaybeReportFailures(LoggerState& st) {
  uint64_t total = 0;
  const Sink* last = nullptr;
  for (auto* list : {&st.server, &st.request}) {
    for (auto& sink : *list) {
      total += sink->FailureCount();
      if (sink->FailureCount() > 0) {
        last = sink.get();
      }
    }
  }
  if (total <= st.reported_failures || last == nullptr) {
    return;
  }
  time_t now = ::time(nullptr);
  if (st.last_report != 0 && now - st.last_report < st.report_interval) {
    return;
  }
  st.last_report = now;
  std::string msg = absl::StrFormat(
      "kiln: warning: %d log line(s) could not be written (%s: %s); serving continues\n",
      total - st.reported_failures, last->Describe(), last->LastFailure());
  st.reported_failures = total;
  WriteStderr(msg);
}

// Opens the stdio target and points fd 1 and 2 at it.
absl::Status PointStdio(const std::string& path, const FileOptions& options) {
  absl::StatusOr<base::UniqueFd> fd = OpenLogFile(path, options);
  if (!fd.ok()) {
    return fd.status();
  }
  // dup2 clears close-on-exec on 1 and 2, as stdio must be; the opened fd itself closes here.
  if (::dup2(fd->Get(), STDOUT_FILENO) < 0 || ::dup2(fd->Get(), STDERR_FILENO) < 0) {
    return base::ErrnoError(errno, "point stdout/stderr at log file", path);
  }
  return absl::OkStatus();
}

// Called with the mutex held: reopens every sink and the stdio target; returns the messages
// for the failures (logged by the caller once the mutex is released).
std::vector<std::string> ReopenLocked(LoggerState& st) {
  std::vector<std::string> failures;
  for (auto* list : {&st.server, &st.request}) {
    for (auto& sink : *list) {
      absl::Status s = sink->Reopen();
      if (!s.ok()) {
        failures.push_back(
            absl::StrFormat("cannot reopen log %s, still writing to the old file: %s",
                            sink->Describe(), base::Sv(s.message())));
      }
    }
  }
  if (!st.stdio_path.empty()) {
    absl::Status s = PointStdio(st.stdio_path, st.stdio_options);
    if (!s.ok()) {
      failures.push_back(absl::StrFormat(
          "cannot reopen %s for stdout/stderr, still writing to the old file: %s",
          st.stdio_path, base::Sv(s.message())));
    }
  }
  return failures;
}

// Called with the mutex held: reopens when another process asked for it since last time.
std::vector<std::string> ReopenIfRequestedLocked(LoggerState& st) {
  if (st.reopen_generation == nullptr) {
    return {};
  }
  uint64_t now = st.reopen_generation->load(std::memory_order_acquire);
  if (now == st.reopen_seen) {
    return {};
  }
  st.reopen_seen = now;
  return ReopenLocked(st);
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kNotice:
      return "notice";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "?";
}

Sink::~Sink() = default;

absl::Status Sink::Reopen() { return absl::OkStatus(); }

std::string Sink::LastFailure() const { return last_failure_; }

void Sink::WriteLines(std::string_view lines, size_t count) {
  (void)count;
  size_t start = 0;
  while (start < lines.size()) {
    size_t nl = lines.find('\n', start);
    size_t end = nl == std::string_view::npos ? lines.size() : nl + 1;
    Write(lines.substr(start, end - start));
    start = end;
  }
}

void Sink::RecordFailure(std::string reason, uint64_t lines) {
  failures_ += lines;
  last_failure_ = std::move(reason);
}

void Log(Level level, std::string_view message) {
  FlushRequestBatch();  // this thread's request lines came first
  LoggerState& st = State();
  std::unique_lock<std::mutex> lock(st.mu);
  std::vector<std::string> failures = ReopenIfRequestedLocked(st);
  if (!failures.empty()) {
    lock.unlock();
    for (const std::string& f : failures) {
      Log(Level::kError, f);
    }
    lock.lock();
  }
  if (level < st.min_level) {
    return;
  }
  std::string prefix = Prefix(st, level);
  std::string line;
  // One sink call per line; a multi-line message gives several whole lines.
  size_t start = 0;
  size_t nl;
  do {
    nl = message.find('\n', start);
    std::string_view part =
        message.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    line.assign(prefix);
    line.append(part.data(), part.size());
    line.push_back('\n');
    WriteTo(st.server, line);
    start = nl + 1;
  } while (nl != std::string_view::npos && start < message.size());
  MaybeReportFailures(st);
}

namespace {

// Writes request lines (each ending in '\n') to the request sinks, or the server log.
void WriteRequestLines(std::string_view lines, size_t count) {
  LoggerState& st = State();
  std::unique_lock<std::mutex> lock(st.mu);
  std::vector<std::string> failures = ReopenIfRequestedLocked(st);
  if (!failures.empty()) {
    lock.unlock();
    for (const std::string& f : failures) {
      Log(Level::kError, f);
    }
    lock.lock();
  }
  WriteLinesTo(st.request.empty() ? st.server : st.request, lines, count);
  MaybeReportFailures(st);
}

}  // namespace

void LogRequest(std::string_view line) {
  const bool newline = !line.empty() && line.back() == '\n';
  RequestBatch& b = tl_batch;
  if (b.limit == 0) {
    if (newline) {
      WriteRequestLines(line, 1);
    } else {
      std::string whole(line);
      whole.push_back('\n');
      WriteRequestLines(whole, 1);
    }
    return;
  }
  const size_t size = line.size() + (newline ? 0 : 1);
  if (b.count > 0 && b.lines.size() + size > b.limit) FlushRequestBatch();
  if (b.count == 0) b.since_ns = MonotonicNs();
  b.lines.append(line.data(), line.size());
  if (!newline) b.lines.push_back('\n');
  ++b.count;
  if (b.lines.size() >= b.limit) FlushRequestBatch();
}

void SetRequestBatch(size_t bytes) {
  FlushRequestBatch();
  tl_batch.limit = bytes;
  if (bytes > 0) tl_batch.lines.reserve(bytes);
}

void FlushRequestBatch() {
  RequestBatch& b = tl_batch;
  if (b.count == 0) return;
  // Taken out first: writing may log (a failed reopen), which flushes again.
  std::string lines = std::move(b.lines);
  const size_t count = b.count;
  b.lines.clear();
  b.count = 0;
  WriteRequestLines(lines, count);
  if (b.lines.capacity() < lines.capacity()) {
    lines.clear();
    b.lines.swap(lines);  // keep the allocation
  }
}

bool RequestBatchPending() { return tl_batch.count > 0; }

int64_t RequestBatchAgeMs() {
  if (tl_batch.count == 0) return -1;
  return (MonotonicNs() - tl_batch.since_ns) / 1000000;
}

void FlushRequestBatchIfOlderThan(int64_t max_age_ms) {
  if (tl_batch.count > 0 && MonotonicNs() - tl_batch.since_ns >= max_age_ms * 1000000) {
    FlushRequestBatch();
  }
}

void SetServerSinks(std::vector<std::unique_ptr<Sink>> sinks) {
  LoggerState& st = State();
  std::vector<std::unique_ptr<Sink>> old;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    old = std::exchange(st.server, std::move(sinks));
    st.reported_failures = 0;
  }
}

void SetRequestSinks(std::vector<std::unique_ptr<Sink>> sinks) {
  LoggerState& st = State();
  std::vector<std::unique_ptr<Sink>> old;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    old = std::exchange(st.request, std::move(sinks));
    st.reported_failures = 0;
  }
}

bool HasServerSinks() {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  return !st.server.empty();
}

void SetMinLevel(Level level) {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.min_level = level;
}

void SetDateFormat(std::string format) {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.date_format = std::move(format);
}

void SetFailureReportInterval(int interval_seconds) {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.report_interval = interval_seconds;
  st.last_report = 0;
}

void ReopenAll() {
  std::vector<std::string> failures;
  LoggerState& st = State();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    failures = ReopenLocked(st);
  }
  for (const std::string& f : failures) {
    Log(Level::kError, f);
  }
}

absl::Status EnableSharedReopen() {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.reopen_generation != nullptr) {
    return absl::OkStatus();
  }
  void* p = ::mmap(nullptr, sizeof(std::atomic<uint64_t>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return base::ErrnoError(errno, "mmap", "the shared log-reopen counter");
  }
  // Never unmapped: forked processes use it until they exit.
  st.reopen_generation = new (p) std::atomic<uint64_t>(0);
  st.reopen_seen = 0;
  return absl::OkStatus();
}

void ReopenEverywhere() {
  LoggerState& st = State();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.reopen_generation != nullptr) {
      st.reopen_seen = st.reopen_generation->fetch_add(1, std::memory_order_acq_rel) + 1;
    }
  }
  ReopenAll();
}

void ReopenIfRequested() {
  LoggerState& st = State();
  std::vector<std::string> failures;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    failures = ReopenIfRequestedLocked(st);
  }
  for (const std::string& f : failures) {
    Log(Level::kError, f);
  }
}

absl::Status SetStdioTarget(std::string path, const FileOptions& options) {
  KILN_RETURN_IF_ERROR(PointStdio(path, options));
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.stdio_path = std::move(path);
  st.stdio_options = options;
  return absl::OkStatus();
}

}  // namespace kiln::log
