// The process-wide logger: the server log (default: stderr) and the request log (req-logger
// sinks, else the server log). Each line is assembled whole and handed to every sink, which
// writes it with one write(), so lines from many processes never interleave. Knows nothing of
// plugins: plugin loggers arrive as Sinks (see sink_spec.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/log/encoder.h"
#include "core/log/route.h"

namespace kiln::log {

enum class Level { kDebug, kInfo, kNotice, kWarning, kError };

// "debug", "info", "notice", "warning", "error".
const char* LevelName(Level level);

// A log target. Write() takes one whole line including its '\n' and must neither block for
// long nor stop serving on failure: a sink counts failed writes (see FailureCount) and the
// logger reports them now and then.
class Sink {
 public:
  virtual ~Sink();
  virtual void Write(std::string_view line) = 0;
  // Takes `count` whole lines at once (a request-log batch). The default hands them to
  // Write() one at a time; sinks that write to a file or a descriptor write them together.
  virtual void WriteLines(std::string_view lines, size_t count);
  // Reopens the target (log rotation). On failure the old target stays in use.
  virtual absl::Status Reopen();
  // What the sink writes to, for messages: "/var/log/app.log", "stderr", "file:/x".
  virtual std::string Describe() const = 0;
  // The file the sink appends to, for log rotation (log-maxsize); "" when it writes no file.
  // The default reads it from Describe(): "file:/x" (the logfile plugin's scheme) is /x.
  virtual std::string FilePath() const;
  // Lines lost so far and the last reason, for the periodic report.
  uint64_t FailureCount() const { return failures_; }
  std::string LastFailure() const;

 protected:
  // For implementations: records `lines` lost lines and why.
  void RecordFailure(std::string reason, uint64_t lines = 1);

 private:
  uint64_t failures_ = 0;
  std::string last_failure_;
};

// Writes a message to the server log. A trailing newline is optional; a message with embedded
// newlines becomes several lines, each with the prefix. Within a line, control bytes (CR,
// ESC, ...; TAB is kept) and bytes that are not UTF-8 are written escaped as \xNN
// (LogSafeText, escape.h), so a message quoting request data cannot drive a terminal; a
// caller quoting a request value still escapes it (LogSafe) so that its LF cannot start a
// line of its own. Each line then goes through the server encoders (SetEncoders).
void Log(Level level, std::string_view message);

// Writes one request log line (no newline needed) to the request sinks, or the server log
// when none is set. The line is passed through the request encoders (or, when it goes to
// the server log and no request encoder is set, the server encoders); its request values
// must already be escaped (request_log.h does). On a thread that batches (SetRequestBatch), the line joins the thread's
// batch instead, which is written whole when full or flushed.
void LogRequest(std::string_view line);

// Request-log batching for the calling thread (a serving thread): lines collect up to `bytes`
// bytes and go out with one write() per file or descriptor sink when the batch is full, or
// when its oldest line has waited 100 ms (a flusher thread of the process sees to that, also
// while the owning thread is busy in a long request). 0 turns batching off (after flushing);
// a thread that ends writes what is left. A server log line from the same thread flushes the
// batch first, so a thread's lines keep their order. In a child of fork() the forking
// thread's pending lines are dropped (the parent writes them) and batching is off.
void SetRequestBatch(size_t bytes);
void FlushRequestBatch();

// Replaces the sinks (an empty vector restores stderr for the server log, and "same as the
// server log" for the request log). The previous sinks are closed.
void SetServerSinks(std::vector<std::unique_ptr<Sink>> sinks);
void SetRequestSinks(std::vector<std::unique_ptr<Sink>> sinks);

// Named loggers and the log-route / log-req-route rules (route.h): a server (request) line
// that matches any of `server_routes` (`request_routes`) goes, once, to each matching route's
// named logger, encoded as any server (request) line, and not to the default sinks; other
// lines are unaffected, and a named logger gets nothing else. NotFound naming the route's
// logger when no sink in `named` has that name. Call before serving threads start.
struct NamedSink {
  std::string name;
  std::unique_ptr<Sink> sink;
};
absl::Status SetRoutes(std::vector<NamedSink> named, std::vector<LogRoute> server_routes,
                       std::vector<LogRoute> request_routes);

// Installs the encoder chains (log-encoder, log-req-encoder; encoder.h) applied to server
// and request lines. Call before serving threads start (the master does, before forking);
// empty chains turn encoding off.
void SetEncoders(EncoderChain server, EncoderChain request);

// True when request lines go through an encoder that wraps them in a JSON object (a
// `format {...${msg}...}` step): a log-format then JSON-escapes its values.
bool RequestLinesWrapJson();

// True when server log lines go to configured sinks rather than stderr.
bool HasServerSinks();

// Messages below `level` are dropped (default kInfo).
void SetMinLevel(Level level);

// Prefixes server log lines with the local time formatted by strftime(`format`) followed by a
// space ("" turns it off; the default). `log-date = true` means "%a %b %e %H:%M:%S %Y".
void SetDateFormat(std::string format);

// Reopens every sink and the stdio target (SetStdioTarget), for logrotate. A failed reopen
// keeps the old target and logs why.
void ReopenAll();

// Reopen across processes (touch-logreopen). EnableSharedReopen() maps a counter shared with
// every process forked afterwards (call it in the master before forking); ReopenEverywhere()
// bumps it and reopens this process's sinks. Every other process reopens its own sinks before
// its next log line, or when it calls ReopenIfRequested() (workers do at each request start),
// so a worker idle for hours still writes its first line after a rotation to the new file.
absl::Status EnableSharedReopen();
void ReopenEverywhere();
void ReopenIfRequested();

// The files this process writes its logs to, each once: the stdio target (SetStdioTarget)
// first, then each server and request sink's FilePath(). What log rotation renames.
std::vector<std::string> LogFilePaths();
// The stdio target's path (logto, daemonize, else the first file logger); "" when none.
std::string StdioTargetPath();


// Reports, once per `interval_seconds` at most, lines that sinks failed to write. Called by
// the logger itself after each write; exposed for tests with interval 0.
void SetFailureReportInterval(int interval_seconds);

// absl::StrFormat-style shorthands: log::Info("worker %d ready", id).
template <typename... Args>
void Debug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(Level::kDebug, absl::StrFormat(format, args...));
}
template <typename... Args>
void Info(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(Level::kInfo, absl::StrFormat(format, args...));
}
template <typename... Args>
void Notice(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(Level::kNotice, absl::StrFormat(format, args...));
}
template <typename... Args>
void Warn(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(Level::kWarning, absl::StrFormat(format, args...));
}
template <typename... Args>
void Error(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(Level::kError, absl::StrFormat(format, args...));
}

}  // namespace kiln::log
