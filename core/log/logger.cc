// The process-wide logger: sink lists behind one mutex, line assembly, failure reports.
// One write() per line is the sinks' job; this file makes sure they get whole lines.
#include "core/log/logger.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <utility>

#include "core/base/errno_status.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/log/escape.h"
#include "core/log/file_sink.h"
#include "core/log/line_observer.h"

namespace kiln::log {
namespace {

struct LoggerState {
  std::mutex mu;
  std::vector<std::unique_ptr<Sink>> server;   // empty: stderr
  std::vector<std::unique_ptr<Sink>> request;  // empty: the server log
  // Named loggers (`logger = NAME target`): only lines a log-route sends them (SetRoutes).
  std::vector<std::unique_ptr<Sink>> named;
  struct Routed {
    LogRoute route;
    size_t sink;  // index into `named`
  };
  std::vector<Routed> server_routes, request_routes;
  Level min_level = Level::kInfo;
  std::string date_format;
  int report_interval = 60;
  time_t last_report = 0;
  uint64_t reported_failures = 0;
  // Where fd 1 and 2 point (SetStdioTarget); empty: left alone.
  std::string stdio_path;
  FileOptions stdio_options;
  // Reopen requests shared with forked processes (EnableSharedReopen); null until enabled.
  // Both are written under `mu`; ReopenIfRequested reads them without it first (a serving
  // thread calls it on every request), and takes `mu` only when they differ.
  std::atomic<std::atomic<uint64_t>*> reopen_generation{nullptr};
  std::atomic<uint64_t> reopen_seen{0};
};

// Encoder chains (SetEncoders), read by every logging thread without a lock: they are set
// before serving threads start, and a replaced chain is never freed (a thread may still be
// encoding with it).
std::atomic<const EncoderChain*> g_server_encoders{nullptr};
std::atomic<const EncoderChain*> g_request_encoders{nullptr};
std::atomic<bool> g_has_request_sinks{false};
// Request lines are matched against routes only when some apply to them (log-req-route, or
// log-route while they go to the server log), so the serving threads of an instance without
// any take no lock for it. Kept by UpdateRequestRouting.
std::atomic<bool> g_route_request_lines{false};

// The chain request lines go through: the request encoders, else the server encoders when
// the lines go to the server log (as uWSGI's log-encoder sees request lines then), else none.
const EncoderChain* RequestEncoders() {
  if (const EncoderChain* c = g_request_encoders.load(std::memory_order_acquire)) return c;
  if (g_has_request_sinks.load(std::memory_order_relaxed)) return nullptr;
  return g_server_encoders.load(std::memory_order_acquire);
}

// Request lines wait at most this long in a batch (request-log-buffer).
constexpr int64_t kBatchMaxAgeNs = 100 * 1000000;

// A serving thread's request-log batch (SetRequestBatch). The thread appends under `mu`; the
// process's flusher thread writes a batch whose oldest line waited kBatchMaxAgeNs under the
// same mutex, so a thread busy in a long request (or killed by harakiri in it) does not hold
// back the lines of the requests it answered before.
struct RequestBatch {
  std::mutex mu;
  std::string lines;
  size_t count = 0;
  size_t limit = 0;  // 0: off
  int64_t since_ns = 0;
  bool registered = false;
  ~RequestBatch();
};

// Every batch of the process and the flusher thread that ages them. Lock order: registry mu,
// then a batch's mu, then the logger's mu.
struct BatchRegistry {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<RequestBatch*> batches;
  bool flusher_started = false;
  // True while the flusher may go to sleep without a deadline: a thread that starts a batch
  // then wakes it.
  std::atomic<bool> flusher_idle{false};
};

// Replaced in a forked child (the old one may be locked by a thread that does not exist there).
BatchRegistry* g_registry = new BatchRegistry;

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
    (void)WriteLineBatch(STDERR_FILENO, lines);
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
  for (auto* list : {&st.server, &st.request, &st.named}) {
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

// Called with the mutex held, after the request sinks or the routes changed.
void UpdateRequestRouting(const LoggerState& st) {
  g_route_request_lines.store(
      !st.request_routes.empty() || (st.request.empty() && !st.server_routes.empty()),
      std::memory_order_release);
}

// Called with the mutex held: the named sinks whose routes match `line` (each once, in the
// order of the named loggers); empty when no route matches.
std::vector<size_t> RoutedSinks(const std::vector<LoggerState::Routed>& routes,
                                std::string_view line) {
  std::vector<size_t> out;
  for (const LoggerState::Routed& r : routes) {
    if (std::find(out.begin(), out.end(), r.sink) == out.end() && r.route.Matches(line)) {
      out.push_back(r.sink);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Called with the mutex held: reopens every sink and the stdio target; returns the messages
// for the failures (logged by the caller once the mutex is released).
std::vector<std::string> ReopenLocked(LoggerState& st) {
  std::vector<std::string> failures;
  for (auto* list : {&st.server, &st.request, &st.named}) {
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
  std::atomic<uint64_t>* gen = st.reopen_generation.load(std::memory_order_relaxed);
  if (gen == nullptr) {
    return {};
  }
  uint64_t now = gen->load(std::memory_order_acquire);
  if (now == st.reopen_seen.load(std::memory_order_relaxed)) {
    return {};
  }
  st.reopen_seen.store(now, std::memory_order_relaxed);
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

std::string Sink::FilePath() const {
  constexpr std::string_view kFile = "file:";
  std::string d = Describe();
  return d.starts_with(kFile) ? d.substr(kFile.size()) : "";
}

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
  const EncoderChain* encoders = g_server_encoders.load(std::memory_order_acquire);
  std::string line;
  // One sink call per line; a multi-line message gives several whole lines.
  size_t start = 0;
  size_t nl;
  do {
    nl = message.find('\n', start);
    std::string_view part =
        message.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    line.assign(prefix);
    AppendLogSafeText(&line, part);
    // log-route matches the line as written, before the encoders (as uWSGI's log master).
    std::vector<size_t> routed = RoutedSinks(st.server_routes, line);
    if (encoders != nullptr) line = encoders->Encode(line);
    if (line.empty() || line.back() != '\n') line.push_back('\n');
    if (routed.empty()) {
      WriteTo(st.server, line);
    }
    for (size_t i : routed) {
      st.named[i]->Write(line);
    }
    ObserveLines(line);  // log-alarm sees every line, routed or not (as uWSGI)
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
  if (st.request.empty()) ObserveLines(lines);  // log-alarm: they are server log lines
  MaybeReportFailures(st);
}

// True while this thread writes a batch (holding its mutex): a server line logged meanwhile
// (a failed reopen) must not try to flush, and lock, again.
thread_local bool tl_flushing = false;

// Writes `b`'s lines; called with b.mu held.
void FlushLocked(RequestBatch& b) {
  if (b.count == 0) return;
  std::string lines = std::move(b.lines);
  const size_t count = b.count;
  b.lines.clear();
  b.count = 0;
  tl_flushing = true;
  WriteRequestLines(lines, count);
  tl_flushing = false;
  if (b.lines.capacity() < lines.capacity()) {
    lines.clear();
    b.lines.swap(lines);  // keep the allocation
  }
}

[[noreturn]] void FlusherMain(BatchRegistry* reg) {
  std::unique_lock<std::mutex> lock(reg->mu);
  for (;;) {
    reg->flusher_idle.store(true);  // before the scan: a batch started after it wakes us
    const int64_t now = MonotonicNs();
    int64_t next = std::numeric_limits<int64_t>::max();
    for (RequestBatch* b : reg->batches) {
      std::lock_guard<std::mutex> batch_lock(b->mu);
      if (b->count == 0) continue;
      if (now - b->since_ns >= kBatchMaxAgeNs) {
        FlushLocked(*b);
      } else {
        next = std::min(next, b->since_ns + kBatchMaxAgeNs);
      }
    }
    if (next == std::numeric_limits<int64_t>::max()) {
      reg->cv.wait(lock);
    } else {
      reg->flusher_idle.store(false);
      // The coarse clock runs up to a few ms behind; 1 ms more keeps the wakeup past the age.
      reg->cv.wait_for(lock, std::chrono::nanoseconds(next - now + 1000000));
    }
  }
}

// In a child of fork(): only the forking thread exists. Its batch belongs to the parent (whose
// lines must not be written twice), and the registry may be locked by the parent's flusher.
void AfterForkInChild() {
  g_registry = new BatchRegistry;  // the parent's stays allocated: it may be locked
  RequestBatch& b = tl_batch;
  new (&b.mu) std::mutex;
  b.lines.clear();
  b.count = 0;
  b.limit = 0;
  b.registered = false;
}

void Register(RequestBatch& b) {
  static std::once_flag atfork;
  std::call_once(atfork, [] { ::pthread_atfork(nullptr, nullptr, AfterForkInChild); });
  BatchRegistry* reg = g_registry;
  std::lock_guard<std::mutex> lock(reg->mu);
  reg->batches.push_back(&b);
  b.registered = true;
  if (!reg->flusher_started) {
    reg->flusher_started = true;
    std::thread(FlusherMain, reg).detach();
  }
}

void Unregister(RequestBatch& b) {
  BatchRegistry* reg = g_registry;
  std::lock_guard<std::mutex> lock(reg->mu);
  std::erase(reg->batches, &b);
  b.registered = false;
}

RequestBatch::~RequestBatch() {
  if (registered) Unregister(*this);
  std::lock_guard<std::mutex> lock(mu);
  FlushLocked(*this);
}

}  // namespace

namespace {

// log-req-route: writes `line` (not yet encoded) to the named loggers of the routes it matches
// and returns true, or returns false when none matches. Routed lines skip the batch: they are
// written at once, so a batch only ever holds lines for the default request sinks.
bool RouteRequestLine(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  LoggerState& st = State();
  std::unique_lock<std::mutex> lock(st.mu);
  std::vector<size_t> routed = RoutedSinks(st.request_routes, line);
  if (routed.empty() && st.request.empty()) {
    // Without req-logger the request lines are part of the server log, which log-route
    // routes (as uWSGI's log master sees them then).
    routed = RoutedSinks(st.server_routes, line);
  }
  if (routed.empty()) {
    return false;
  }
  std::string out(line);
  if (const EncoderChain* encoders = RequestEncoders()) out = encoders->Encode(out);
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  for (size_t i : routed) {
    st.named[i]->Write(out);
  }
  MaybeReportFailures(st);
  return true;
}

}  // namespace

void LogRequest(std::string_view line) {
  if (g_route_request_lines.load(std::memory_order_acquire) && RouteRequestLine(line)) {
    return;
  }
  std::string encoded;
  if (const EncoderChain* encoders = RequestEncoders()) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    encoded = encoders->Encode(line);
    line = encoded;
  }
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
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    if (b.count > 0 && b.lines.size() + size > b.limit) FlushLocked(b);
    if (b.count == 0) {
      b.since_ns = MonotonicNs();
      started = true;
    }
    b.lines.append(line.data(), line.size());
    if (!newline) b.lines.push_back('\n');
    ++b.count;
    if (b.lines.size() >= b.limit) {
      FlushLocked(b);
      started = false;
    }
  }
  if (started && g_registry->flusher_idle.load()) {
    BatchRegistry* reg = g_registry;
    std::lock_guard<std::mutex> lock(reg->mu);
    reg->cv.notify_one();
  }
}

void SetRequestBatch(size_t bytes) {
  RequestBatch& b = tl_batch;
  if (bytes == 0 && b.registered) Unregister(b);
  {
    std::lock_guard<std::mutex> lock(b.mu);
    FlushLocked(b);
    b.limit = bytes;
    if (bytes > 0) b.lines.reserve(bytes);
  }
  if (bytes > 0 && !b.registered) Register(b);
}

void FlushRequestBatch() {
  RequestBatch& b = tl_batch;
  if (!b.registered || tl_flushing) return;  // nothing held, or being written by this thread
  std::lock_guard<std::mutex> lock(b.mu);
  FlushLocked(b);
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
    g_has_request_sinks.store(!st.request.empty(), std::memory_order_relaxed);
    UpdateRequestRouting(st);
  }
}

absl::Status SetRoutes(std::vector<NamedSink> named, std::vector<LogRoute> server_routes,
                       std::vector<LogRoute> request_routes) {
  std::vector<LoggerState::Routed> routes[2];
  std::vector<LogRoute>* given[2] = {&server_routes, &request_routes};
  for (int i = 0; i < 2; ++i) {
    for (LogRoute& r : *given[i]) {
      auto it = std::find_if(named.begin(), named.end(),
                             [&](const NamedSink& n) { return n.name == r.logger(); });
      if (it == named.end()) {
        return absl::NotFoundError(absl::StrFormat("no logger is named `%s`", r.logger()));
      }
      routes[i].push_back({std::move(r), static_cast<size_t>(it - named.begin())});
    }
  }
  std::vector<std::unique_ptr<Sink>> sinks, old;
  for (NamedSink& n : named) sinks.push_back(std::move(n.sink));
  LoggerState& st = State();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    old = std::exchange(st.named, std::move(sinks));
    st.server_routes = std::move(routes[0]);
    st.request_routes = std::move(routes[1]);
    UpdateRequestRouting(st);
  }
  return absl::OkStatus();
}

void SetEncoders(EncoderChain server, EncoderChain request) {
  // Every chain ever installed stays here (see g_server_encoders); a process sets them once.
  static std::mutex mu;
  static auto* kept = new std::vector<std::unique_ptr<EncoderChain>>;
  std::lock_guard<std::mutex> lock(mu);
  auto keep = [&](EncoderChain chain) -> const EncoderChain* {
    if (chain.empty()) return nullptr;
    kept->push_back(std::make_unique<EncoderChain>(std::move(chain)));
    return kept->back().get();
  };
  g_server_encoders.store(keep(std::move(server)), std::memory_order_release);
  g_request_encoders.store(keep(std::move(request)), std::memory_order_release);
}

bool RequestLinesWrapJson() {
  const EncoderChain* c = RequestEncoders();
  return c != nullptr && c->WrapsJsonObject();
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
  if (st.reopen_generation.load(std::memory_order_relaxed) != nullptr) {
    return absl::OkStatus();
  }
  void* p = ::mmap(nullptr, sizeof(std::atomic<uint64_t>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return base::ErrnoError(errno, "mmap", "the shared log-reopen counter");
  }
  // Never unmapped: forked processes use it until they exit.
  st.reopen_seen.store(0, std::memory_order_relaxed);
  st.reopen_generation.store(new (p) std::atomic<uint64_t>(0), std::memory_order_release);
  return absl::OkStatus();
}

void ReopenEverywhere() {
  LoggerState& st = State();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (std::atomic<uint64_t>* gen = st.reopen_generation.load(std::memory_order_relaxed)) {
      st.reopen_seen.store(gen->fetch_add(1, std::memory_order_acq_rel) + 1,
                           std::memory_order_relaxed);
    }
  }
  ReopenAll();
}

void ReopenIfRequested() {
  LoggerState& st = State();
  // The common case, without the mutex: no reopen asked for since this process last looked.
  std::atomic<uint64_t>* gen = st.reopen_generation.load(std::memory_order_acquire);
  if (gen == nullptr ||
      gen->load(std::memory_order_relaxed) == st.reopen_seen.load(std::memory_order_relaxed)) {
    return;
  }
  std::vector<std::string> failures;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    failures = ReopenIfRequestedLocked(st);
  }
  for (const std::string& f : failures) {
    Log(Level::kError, f);
  }
}

std::vector<std::string> LogFilePaths() {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  std::vector<std::string> out;
  auto add = [&](std::string path) {
    if (!path.empty() && std::find(out.begin(), out.end(), path) == out.end()) {
      out.push_back(std::move(path));
    }
  };
  add(st.stdio_path);
  for (auto* list : {&st.server, &st.request, &st.named}) {
    for (auto& sink : *list) add(sink->FilePath());
  }
  return out;
}

std::string StdioTargetPath() {
  LoggerState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  return st.stdio_path;
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
