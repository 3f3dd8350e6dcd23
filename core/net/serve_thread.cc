// The per-thread event loop: accept, read heads under socket-timeout, serve, keep-alive, and
// the error answers for bad input (431/414/400/501/505 over HTTP, 431 raw over uwsgi, close
// for a malformed uwsgi packet), each with one log line. The loop never stops for a client.
#include "core/net/serve_thread.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/log/escape.h"
#include "core/log/logger.h"
#include "core/log/request_log.h"
#include "core/net/connection_request.h"
#include "core/net/static_files.h"
#include "core/protocol/response_writer.h"
#include "core/protocol/uwsgi_parser.h"

namespace kiln::net {
namespace {

constexpr uint64_t kListenTag = 1ull << 32;
constexpr uint64_t kWakeTag = 2ull << 32;
constexpr absl::Duration kSweepInterval = absl::Milliseconds(100);
constexpr size_t kTailRoom = 2048;

const char* ProtocolName(Protocol p) { return p == Protocol::kUwsgi ? "uwsgi" : "http"; }

// /proc/self/statm: size and resident pages (opened close-on-exec, as every fd kiln opens).
void ReadMemory(uint64_t* vsz, uint64_t* rss) {
  base::UniqueFd fd(open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
  char buf[128] = {0};
  if (!fd.Valid() || read(fd.Get(), buf, sizeof(buf) - 1) <= 0) return;
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  *vsz = size * page;
  *rss = resident * page;
}

}  // namespace

ServeThread::ServeThread(ServeLoop& loop, int core_id, int wake_fd)
    : loop_(loop),
      options_(loop.options_),
      core_id_(core_id),
      wake_fd_(wake_fd),
      // Room for the largest head plus body bytes and pipelined requests behind it.
      capacity_(loop.options_.buffer_size + protocol::kUwsgiHeaderSize + 32768) {}

ServeThread::~ServeThread() = default;

void ServeThread::SetAccepting(bool on) {
  if (on == accepting_) return;
  for (size_t i = 0; i < loop_.sockets_.size(); ++i) {
    if (on) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;
      ev.data.u64 = kListenTag | i;
      KILN_CHECK(epoll_ctl(epoll_.Get(), EPOLL_CTL_ADD, loop_.sockets_[i].fd, &ev) == 0,
                 "epoll_ctl ADD on a listen socket");
    } else {
      (void)epoll_ctl(epoll_.Get(), EPOLL_CTL_DEL, loop_.sockets_[i].fd, nullptr);
    }
  }
  accepting_ = on;
}

void ServeThread::Run() {
  // sendfile(2) raises SIGPIPE on a closed socket; keep it from killing the worker.
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  pid_ = static_cast<int>(getpid());  // serving threads run in the worker, after fork
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  KILN_CHECK(epoll_.Valid(), "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  KILN_CHECK(epoll_ctl(epoll_.Get(), EPOLL_CTL_ADD, wake_fd_, &ev) == 0, "epoll_ctl wake fd");
  if (!loop_.stopping()) SetAccepting(true);
  log::SetRequestBatch(options_.request_log_buffer);
  absl::Time next_sweep = absl::Now() + kSweepInterval;
  std::vector<epoll_event> events(64);
  while (true) {
    if (loop_.stop_immediate()) break;
    if (loop_.stopping()) {
      SetAccepting(false);
      std::vector<Connection*> idle;
      for (auto& [fd, c] : conns_) {
        if (c->state == Connection::State::kIdle && c->size() == 0) idle.push_back(c.get());
      }
      for (Connection* c : idle) Close(c);
      if (conns_.empty()) break;
    }
    // Request-log batches age out on the logger's flusher thread (log::SetRequestBatch):
    // flushing whenever this thread was about to sleep cost a zero-timeout epoll_wait per
    // wakeup, more than the writes it saved.
    const int timeout = static_cast<int>(absl::ToInt64Milliseconds(kSweepInterval));
    int n = epoll_wait(epoll_.Get(), events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0 && errno != EINTR) {
      KILN_CHECK(false, "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t v;
        (void)!read(wake_fd_, &v, sizeof(v));
      } else if ((tag & kListenTag) != 0) {
        if (accepting_) Accept(static_cast<size_t>(tag & 0xffffffffu), i == n - 1);
      } else {
        auto it = conns_.find(static_cast<int>(tag));
        if (it != conns_.end()) (void)OnEvent(it->second.get());
      }
    }
    const absl::Time now = absl::Now();
    if (now >= next_sweep) {
      Sweep(now);
      next_sweep = now + kSweepInterval;
    }
  }
  while (!conns_.empty()) Close(conns_.begin()->second.get());
  SetAccepting(false);
  log::SetRequestBatch(0);  // writes what is left
}

// Takes one connection per wakeup and reads it at once, before it joins the epoll set: nginx
// has usually sent the whole request by then, so a uwsgi request is served and closed without
// touching epoll. The listen socket stays readable while more are queued, and with
// EPOLLEXCLUSIVE the kernel wakes an idle thread or worker for them: accepting a batch here
// would queue them all behind this thread's requests while other threads and workers sit idle.
// Once a connection is done and this thread has no other event waiting (`last_event`), it takes
// the next queued one itself, saving the trip through epoll_wait (at most kAcceptBurst in a row,
// so timers and the stop flag are looked at).
void ServeThread::Accept(size_t index, bool last_event) {
  constexpr int kAcceptBurst = 16;
  const ListenSocket& ls = loop_.sockets_[index];
  int served = 0;
  for (int attempt = 0; attempt < 8 + kAcceptBurst; ++attempt) {
    sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    int fd = accept4(ls.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                     SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const absl::Time now = absl::Now();
      if (now - last_accept_error_log_ > absl::Seconds(10)) {
        last_accept_error_log_ = now;
        log::Error("accept on %s: %s; pausing accepts for 100ms", ls.name,
                   base::ErrnoText(errno));
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        SetAccepting(false);
        accept_paused_ = true;
        accept_resume_ = now + absl::Milliseconds(100);
      }
      return;
    }
    if (ls.tcp) {
      const int one = 1;
      (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    auto c = std::make_unique<Connection>(base::UniqueFd(fd), ls.protocol, ls.name, capacity_,
                                          peer_len > 0 ? &peer : nullptr, ls.tcp);
    c->state = Connection::State::kReadingHead;
    c->deadline = absl::Now() + options_.socket_timeout;
    Connection* accepted = c.get();
    conns_.emplace(fd, std::move(c));
    if (OnEvent(accepted)) {
      // Waiting for more of the request, or a keep-alive connection: epoll watches it now.
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = static_cast<uint64_t>(fd);
      KILN_CHECK(epoll_ctl(epoll_.Get(), EPOLL_CTL_ADD, fd, &ev) == 0,
                 "epoll_ctl ADD connection");
      accepted->registered = true;
      return;
    }
    // Accept again only while this thread has nothing else to watch: with connections in
    // epoll, a run of accepts would keep their requests (and the sweep) waiting.
    if (!last_event || !conns_.empty() || ++served >= kAcceptBurst || !accepting_ ||
        loop_.stopping()) {
      return;
    }
  }
}

bool ServeThread::OnEvent(Connection* c) {
  bool would_block = false;
  absl::StatusOr<size_t> n = c->ReadAvailable(&would_block);
  if (would_block) return true;
  // EOF or reset: a half-sent head is the client's choice to leave; nothing to answer. A
  // full buffer is left for the parser, which answers 431.
  if ((!n.ok() && !absl::IsResourceExhausted(n.status())) || (n.ok() && *n == 0)) {
    Close(c);
    return false;
  }
  return ProcessBuffered(c);
}

int ServeThread::ParseHead(Connection* c, protocol::HttpHead* head, size_t* consumed) {
  if (c->protocol() == Protocol::kUwsgi) {
    protocol::UwsgiParseResult r =
        protocol::ParseUwsgi(c->data(), c->size(), options_.buffer_size, &req_);
    if (r.status == protocol::ParseStatus::kIncomplete) return 0;
    if (r.status == protocol::ParseStatus::kError) {
      if (r.error == protocol::UwsgiError::kBlockTooLarge) {
        log::Warn("uwsgi: %s from %s; answered 431", log::LogSafeText(r.message), c->PeerText());
        (void)c->WriteAll(protocol::ErrorResponse(431, r.message), options_.socket_timeout);
      } else {
        log::Warn("uwsgi: invalid request from %s: %s; connection closed", c->PeerText(),
                  log::LogSafeText(r.message));
      }
      Close(c);
      return -1;
    }
    *head = protocol::HttpHead{};
    head->keep_alive = false;
    const std::string_view cl = req_.Get("CONTENT_LENGTH").value_or("");
    if (!cl.empty()) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(base::Av(cl), &n)) {
        log::Warn("uwsgi: invalid request from %s: CONTENT_LENGTH \"%s\" is not a number; "
                  "connection closed", c->PeerText(), log::LogSafe(cl));
        Close(c);
        return -1;
      }
      head->framing = n > 0 ? protocol::BodyFraming::kContentLength : protocol::BodyFraming::kNone;
      head->content_length = n;
    }
    head->minor_version = req_.Get("SERVER_PROTOCOL").value_or("") == "HTTP/1.0" ? 0 : 1;
    head->is_head = req_.Get("REQUEST_METHOD").value_or("") == "HEAD";
    *consumed = r.consumed;
    return 1;
  }
  // Parse only once the blank line that ends the head has arrived (or the head is over the
  // limit), scanning each byte once: a client that trickles its head costs no rescans.
  const std::string_view buffered(c->data(), c->size());
  const size_t from = c->head_scanned > 3 ? c->head_scanned - 3 : 0;
  if (buffered.find("\n\n", from) == std::string_view::npos &&
      buffered.find("\n\r\n", from) == std::string_view::npos &&
      c->size() <= options_.buffer_size && !c->Full()) {
    c->head_scanned = c->size();
    return 0;
  }
  protocol::ConnectionInfo info{c->remote_addr(), c->remote_port(), c->server_name(),
                                c->server_port(), "http"};
  protocol::HttpParseResult r =
      protocol::ParseHttp1(c->data(), c->size(), options_.buffer_size, info, &req_, head);
  if (r.status == protocol::ParseStatus::kIncomplete) {
    if (c->Full()) {
      r.status = protocol::ParseStatus::kError;
      r.http_status = 431;
      r.message = "request head does not fit the read buffer (raise buffer-size)";
    } else {
      c->head_scanned = c->size();
      return 0;
    }
  }
  if (r.status == protocol::ParseStatus::kError) {
    log::Warn("http: bad request from %s: %s; answered %d", c->PeerText(),
              log::LogSafeText(r.message), r.http_status);
    (void)c->WriteAll(protocol::ErrorResponse(r.http_status, r.message), options_.socket_timeout);
    Close(c);
    return -1;
  }
  *consumed = r.consumed;
  return 1;
}

bool ServeThread::ProcessBuffered(Connection* c) {
  while (true) {
    if (c->size() == 0) {
      if (c->requests > 0 && c->state != Connection::State::kIdle) {
        c->state = Connection::State::kIdle;
        c->deadline = absl::Now() + options_.http_timeout;
      }
      if (loop_.stopping() && c->state == Connection::State::kIdle) {
        Close(c);
        return false;
      }
      if (c->state == Connection::State::kIdle) c->ReleaseBuffer();
      return true;
    }
    if (c->state == Connection::State::kIdle) {
      c->state = Connection::State::kReadingHead;
      c->deadline = absl::Now() + options_.socket_timeout;
    }
    // Room for body bytes behind the head: once parsed, the head is viewed in place.
    c->EnsureTailRoom(kTailRoom);
    protocol::HttpHead head;
    size_t consumed = 0;
    int ready = ParseHead(c, &head, &consumed);
    if (ready <= 0) return ready == 0;  // waiting, or closed
    if (WaitForBufferedBody(c, head, consumed)) return true;
    c->head_scanned = 0;
    c->Consume(consumed);
    c->Pin();
    const bool keep = ServeOne(c, head);
    req_.Clear();
    c->Unpin();
    ++c->requests;
    if (!keep || loop_.stop_immediate()) {
      Close(c);
      return false;
    }
    c->state = Connection::State::kIdle;
    c->deadline = absl::Now() + options_.http_timeout;
  }
}

bool ServeThread::WaitForBufferedBody(Connection* c, const protocol::HttpHead& head,
                                      size_t head_len) {
  // post-buffering: a Content-Length body up to that size is collected by the event loop, so
  // a client that sends its body slowly holds a file descriptor, not this thread.
  if (options_.post_buffering == 0 || head.framing != protocol::BodyFraming::kContentLength ||
      head.content_length > options_.post_buffering) {
    return false;
  }
  const size_t total = head_len + static_cast<size_t>(head.content_length);
  if (c->size() >= total) return false;
  if (c->state != Connection::State::kReadingBody) {
    c->state = Connection::State::kReadingBody;
    c->deadline = absl::Now() + options_.socket_timeout;
  }
  req_.Clear();  // views into the buffer must not outlive a move
  c->Reserve(total);
  return true;
}

bool ServeThread::ServeOne(Connection* c, const protocol::HttpHead& head) {
  const absl::Time start = absl::Now();
  const bool keep_alive_allowed = options_.http_keepalive > 0 && !loop_.stopping();
  ConnectionRequest ctx(*c, req_, head, options_, keep_alive_allowed, loop_.worker_id_, core_id_);
  ctx.set_loop(&loop_);
  if (loop_.observer_ != nullptr) {
    loop_.observer_->RequestStarted(core_id_, req_.Get("REQUEST_METHOD").value_or(""),
                                    req_.Get("REQUEST_URI").value_or(""), c->PeerText());
  }
  bool refused = false;
  if (options_.limit_post > 0 && head.framing == protocol::BodyFraming::kContentLength &&
      head.content_length > options_.limit_post) {
    const std::string why = absl::StrFormat("request body of %u bytes is over limit-post (%u)",
                                            head.content_length, options_.limit_post);
    log::Warn("%s: %s from %s; answered 413", ProtocolName(c->protocol()), why, c->PeerText());
    ctx.Refuse(413, why);
    refused = true;
  } else if (options_.post_buffering > 0 && !ctx.body_done()) {
    if (absl::Status s = ctx.BufferBody(); !s.ok()) {
      log::Warn("%s: reading the body from %s: %s", ProtocolName(c->protocol()), c->PeerText(),
                base::Sv(s.message()));
      refused = true;
    }
  }
  if (!refused) {
    if (loop_.statics_ == nullptr || !loop_.statics_->Serve(ctx)) loop_.handler_->Handle(ctx);
  }
  bool keep = ctx.Finish();
  if (keep && !ctx.body_done()) keep = ctx.DrainBody();
  if (c->protocol() == Protocol::kUwsgi) keep = false;
  if (loop_.observer_ != nullptr) {
    loop_.observer_->RequestFinished(core_id_, ctx.status(),
                                     ctx.body_bytes() + ctx.header_bytes());
  }
  if (ctx.write_error() && !options_.ignore_write_errors) {
    log::Warn("%s: writing the response to %s for %s %s failed: %s", ProtocolName(c->protocol()),
              c->PeerText(), log::LogSafe(req_.Get("REQUEST_METHOD").value_or("")),
              log::LogSafe(req_.Get("REQUEST_URI").value_or("")), ctx.write_error_text());
  }
  LogRequest(c, ctx, start);
  return keep;
}

void ServeThread::LogRequest(Connection* c, const ConnectionRequest& ctx, absl::Time start) {
  const uint64_t count = loop_.CountRequest();
  if (!log::ShouldLogRequest(ctx.status(), options_.disable_logging, options_.log_4xx,
                             options_.log_5xx)) {
    return;
  }
  log::RequestLogEntry e;
  e.pid = pid_;
  e.worker_id = loop_.worker_id_;
  e.core_id = core_id_;
  e.app_requests = count;
  e.worker_requests = count;
  e.remote_addr = req_.Get("REMOTE_ADDR").value_or("");
  e.remote_user = req_.Get("REMOTE_USER").value_or("");
  e.method = req_.Get("REQUEST_METHOD").value_or("");
  e.uri = req_.Get("REQUEST_URI").value_or("");
  e.protocol = req_.Get("SERVER_PROTOCOL").value_or("");
  if (loop_.format_ != nullptr) {  // fields only a log-format can name
    e.host = req_.Get("HTTP_HOST").value_or("");
    e.user_agent = req_.Get("HTTP_USER_AGENT").value_or("");
    e.referer = req_.Get("HTTP_REFERER").value_or("");
    e.content_length = req_.Get("CONTENT_LENGTH").value_or("");
  }
  e.var_pairs = req_.vars.size();
  e.vars_bytes =
      c->protocol() == Protocol::kUwsgi ? req_.head_bytes : req_.EncodedVarsSize();
  e.modifier1 = req_.modifier1;
  e.modifier2 = req_.modifier2;
  e.start = start;
  e.duration = absl::Now() - start;
  e.status = ctx.status();
  e.body_bytes = ctx.body_bytes();
  e.header_count = ctx.header_count();
  e.header_bytes = ctx.header_bytes();
  e.via_sendfile = ctx.via_sendfile();
  e.read_error = ctx.read_error();
  e.write_error = ctx.write_error();
  if (options_.memory_report || loop_.format_ != nullptr) ReadMemory(&e.vsz_bytes, &e.rss_bytes);
  if (loop_.format_ != nullptr) {
    e.var = [this](std::string_view name) { return req_.Get(name); };
    log::EmitRequestLine(loop_.format_->Format(e));
    return;
  }
  log_line_.clear();
  log::AppendDefaultRequestLine(&log_line_, e, options_.memory_report);
  log::EmitRequestLine(log_line_);
}

void ServeThread::Close(Connection* c) {
  const int fd = c->fd();
  if (c->registered) (void)epoll_ctl(epoll_.Get(), EPOLL_CTL_DEL, fd, nullptr);
  conns_.erase(fd);
}

void ServeThread::Sweep(absl::Time now) {
  if (accept_paused_ && now >= accept_resume_ && !loop_.stopping()) {
    accept_paused_ = false;
    SetAccepting(true);
  }
  std::vector<Connection*> expired;
  for (auto& [fd, c] : conns_) {
    if (now >= c->deadline) expired.push_back(c.get());
  }
  for (Connection* c : expired) {
    if (c->state == Connection::State::kReadingBody) {
      log::Warn("%s: %s sent no complete request body within %s; %s", ProtocolName(c->protocol()),
                c->PeerText(), absl::FormatDuration(options_.socket_timeout),
                c->protocol() == Protocol::kHttp ? "answered 408" : "connection closed");
      if (c->protocol() == Protocol::kHttp) c->SendBestEffort(protocol::ErrorResponse(408));
    } else if (c->state == Connection::State::kReadingHead && c->size() > 0) {
      if (c->protocol() == Protocol::kHttp) {
        log::Warn("http: %s sent no complete request head within %s; answered 408",
                  c->PeerText(), absl::FormatDuration(options_.socket_timeout));
        c->SendBestEffort(protocol::ErrorResponse(408));
      } else {
        log::Warn("uwsgi: %s sent an incomplete packet within %s; connection closed",
                  c->PeerText(), absl::FormatDuration(options_.socket_timeout));
      }
    }
    Close(c);
  }
}

}  // namespace kiln::net
