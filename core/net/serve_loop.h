// The serving loop of one worker: per thread an epoll loop that accepts on the shared listen
// sockets, reads request heads of many connections under a deadline, then runs the handler
// synchronously for each complete request. Knows protocols and the request log; knows nothing
// of processes (the WorkerObserver is the process side's window into it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/unique_fd.h"
#include "core/net/cidr.h"
#include "core/net/static_files.h"
#include "core/protocol/request_context.h"

namespace kiln::config {
class Config;
}  // namespace kiln::config
namespace kiln::log {
class LogFormat;
}  // namespace kiln::log

namespace kiln::net {

enum class Protocol { kUwsgi, kHttp };

struct ListenSocket {
  int fd;
  Protocol protocol;
  std::string name;  // as configured, for logs
  bool tcp = false;  // TCP (else a unix socket): TCP_NODELAY and getsockname apply
  // Set by ServeLoop from the socket itself (getsockname): a unix socket, whose clients have
  // no address to log, so accept asks for none.
  bool unix_domain = false;
};

struct ServeOptions {
  size_t buffer_size = 65535;       // uwsgi vars block / HTTP header block limit
  uint64_t websocket_max_size = 16 << 20;  // largest WebSocket message a client may send
  bool websocket_per_message_deflate = true;  // take a client's permessage-deflate offer
  // websocket-ping-freq: a WebSocket client heard nothing from this long is pinged (zero: never);
  // websocket-pong-tolerance: how long after that ping it has to send anything at all.
  absl::Duration websocket_ping_freq = absl::Seconds(30);
  absl::Duration websocket_pong_tolerance = absl::Seconds(3);
  uint64_t limit_post = 0;          // 0 = unlimited; over -> 413
  size_t post_buffering = 0;        // >0: read the whole body before calling the handler
  // Memory all connections of a worker may hold for post-buffered bodies the event loop is
  // collecting; a body that does not fit goes to an unlinked temporary file as it arrives.
  uint64_t post_buffering_memory = 32ull << 20;
  absl::Duration socket_timeout = absl::Seconds(4);  // uWSGI's default
  absl::Duration http_timeout = absl::Seconds(60);   // idle keep-alive connections
  int64_t http_keepalive = 1;       // 0 disables keep-alive (docs/decisions.md 23); >0 is on
  // Stopping: an idle keep-alive connection is closed once idle this long (a front end's
  // pooled connection must be closed by the front end first, see http-keepalive-drain).
  absl::Duration keepalive_drain = absl::Seconds(15);
  int threads = 1;
  bool disable_logging = false, log_4xx = false, log_5xx = false, log_date = false,
       memory_report = false, ignore_write_errors = false, disable_write_exception = false;
  bool log_micros = false;           // log-micros: "in N micros" in the default line
  bool logformat_strftime = false;   // logformat-strftime: log-format's text through strftime
  bool log_sendfile = false;         // log-sendfile: log sendfile responses despite disable-logging
  bool log_x_forwarded_for = false;  // log-x-forwarded-for: the header as the client address
  int64_t log_slow_ms = 0;          // log-slow: log requests this slow despite disable-logging
  std::string log_format;           // empty: uWSGI's default line (docs/decisions.md 20)
  size_t request_log_buffer = 4096; // bytes of request lines a thread writes together; 0: each
  std::vector<std::pair<std::string, std::string>> static_maps;  // (/mount, dir)
  // add-header: (name, value) added to every response, after the application's headers.
  std::vector<std::pair<std::string, std::string>> add_headers;
  std::vector<std::string> static_safe;  // directories static-map's symlinks may lead into
  StaticExtras static_extras;  // static-gzip-all, static-expires
  // With no handler: kiln's built-in test handler answers (builtin-handler = true), else
  // every request gets 500 and "no app loaded" is logged.
  bool builtin_handler = false;
  // http-enable-proxy-protocol: a connection to an HTTP socket begins with a PROXY header
  // (v1 or v2) naming the client; only from peers in proxy_protocol_from (kiln's
  // proxy-protocol-from; empty: any peer, as uWSGI). See proxy_header.h.
  bool proxy_protocol = false;
  std::vector<CidrRange> proxy_protocol_from;

  // Reads the options above from the configuration (uWSGI names: buffer-size, limit-post,
  // post-buffering, post-buffering-memory (kiln's), socket-timeout, http-timeout, http-keepalive,
  // threads, disable-logging, kiln's http-keepalive-drain (capped below worker-reload-mercy),
  // log-4xx, log-5xx, log-date, memory-report, ignore-write-errors, disable-write-exception,
  // log-format, static-map; kiln's request-log-buffer). Errors name the option and what was expected.
  static absl::StatusOr<ServeOptions> FromConfig(const config::Config& cfg);
};

// How one request ended, for the scoreboard's counters.
struct RequestOutcome {
  int status = 0;
  uint64_t response_bytes = 0;  // head and body
  int64_t duration_ns = 0;      // from the complete head to the end of the response
  bool static_file = false;     // answered by static-map
  bool write_error = false;     // the response could not be written in full
  bool read_error = false;      // reading the body failed (client gone, timeout)
  bool app_error = false;       // the application failed it (RequestContext::NoteAppError)
};

// Implemented by the process side: the scoreboard (harakiri, stats, max-requests).
class WorkerObserver {
 public:
  virtual ~WorkerObserver() = default;
  // `method`, `uri` and `client` (the peer address) name the request for harakiri's log line.
  // `running`: how long it has run already (nonzero when harakiri's clock goes back to an
  // older request still in flight on the thread; ServeThread::MarkOldestInFlight).
  virtual void RequestStarted(int core_id, std::string_view method, std::string_view uri,
                              std::string_view client, absl::Duration running) = 0;
  virtual void RequestFinished(int core_id, const RequestOutcome& outcome) = 0;
  // A WebSocket on this core was accepted (101): its request is no longer running for
  // harakiri, though RequestFinished comes only when the socket closes, hours later maybe.
  virtual void RequestUpgraded(int core_id) { (void)core_id; }
};

class ServeThread;
class StaticFiles;

class ServeLoop {
 public:
  // `handler` may be null: the built-in test handler answers then if
  // options.builtin_handler, else the no-app handler (500 for every request). `observer` may
  // be null. The listen fds stay owned by the caller and must outlive Run().
  ServeLoop(ServeOptions options, std::vector<ListenSocket> sockets, protocol::Handler* handler,
            WorkerObserver* observer, int worker_id);
  ~ServeLoop();
  ServeLoop(const ServeLoop&) = delete;
  ServeLoop& operator=(const ServeLoop&) = delete;

  // Runs options.threads serving threads (the caller's thread is core 0); returns after
  // Stop() once in-flight requests finished.
  void Run();
  // Async-signal-safe (atomic stores and a write to each thread's eventfd). graceful: stop
  // accepting, finish requests in hand, close idle keep-alive connections, answer the current
  // response with Connection: close. Immediate: close everything now (a handler already
  // running finishes its call, but its connection is closed after it). drain_listeners (the
  // whole instance stops, graceful only): the first thread free takes every connection the
  // kernel has queued on the listen sockets and shuts the sockets down for every process
  // holding them, so new connections are refused, never accepted and reset (listen_drain.cc).
  // Never on a reload or a recycle: the listen sockets serve on in other processes then.
  void Stop(bool graceful, bool drain_listeners = false);
  uint64_t requests_served() const;

  // For the serving threads.
  const ServeOptions& options() const { return options_; }
  bool stopping() const { return stop_.load(std::memory_order_relaxed) != 0; }
  bool stop_immediate() const { return stop_.load(std::memory_order_relaxed) == 2; }
  bool drain_listeners() const { return drain_.load(std::memory_order_relaxed); }
  uint64_t CountRequest() { return served_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // The post-buffering-memory budget, shared by the worker's threads: TakeBodyMemory is false
  // (and takes nothing) when `n` more bytes would exceed it.
  bool TakeBodyMemory(uint64_t n);
  void GiveBackBodyMemory(uint64_t n) { body_memory_.fetch_sub(n, std::memory_order_relaxed); }

 private:
  friend class ServeThread;

  ServeOptions options_;
  std::vector<ListenSocket> sockets_;
  protocol::Handler* handler_;
  std::unique_ptr<protocol::Handler> builtin_;
  WorkerObserver* observer_;
  int worker_id_;
  std::unique_ptr<StaticFiles> statics_;      // null without static-map
  std::unique_ptr<log::LogFormat> format_;   // null: uWSGI's default line
  std::vector<base::UniqueFd> wake_fds_;  // one eventfd per thread
  std::vector<std::unique_ptr<ServeThread>> threads_;
  std::atomic<int> stop_{0};  // 0 running, 1 graceful, 2 immediate
  std::atomic<bool> drain_{false};  // set before stop_: see Stop
  std::atomic<uint64_t> served_{0};
  std::atomic<uint64_t> body_memory_{0};  // bytes of post-buffered bodies held in memory
  std::atomic<int> running_{0};  // serving threads whose Run has not returned yet
};

}  // namespace kiln::net
