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

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/clock.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/log/escape.h"
#include "core/log/logger.h"
#include "core/log/request_log.h"
#include "core/net/connection_request.h"
#include "core/net/proxy_header.h"
#include "core/net/static_files.h"
#include "core/protocol/response_writer.h"
#include "core/protocol/uwsgi_parser.h"

namespace kiln::net {
// The variables every request's harakiri entry and log line show, found in one pass over the
// request's variables (nine lookups by name cost about 1.3k instructions per request; the
// pass, a few hundred, once per request). As Request::Get: the last of a repeated name wins,
// absent is empty.
struct CommonVars {
  std::string_view method, uri, protocol, remote_addr, remote_port, remote_user, forwarded_for;
  std::string_view script_name, path_info;  // for routing (RequestContext::PathVars)
};

namespace {

constexpr uint64_t kListenTag = 1ull << 32;
constexpr uint64_t kWakeTag = 2ull << 32;
constexpr absl::Duration kSweepInterval = absl::Milliseconds(100);
constexpr size_t kTailRoom = 2048;
// An unread body the event loop throws away so the connection can serve its next request;
// a longer one ends the connection (lingering close) instead.
constexpr uint64_t kMaxDiscard = 1 << 20;
// What a lingering close reads and throws away at most before it closes anyway (its time is
// bounded by socket-timeout).
constexpr uint64_t kLingerBytes = 4 << 20;
// Read per wakeup of a discarding connection, so a fast sender cannot starve the others.
constexpr size_t kDiscardPerEvent = 256 << 10;
// How long a thread stops taking new connections while one it accepted on a unix socket has
// not sent its request yet (nginx writes right after connecting: microseconds).
constexpr absl::Duration kFreshGrace = absl::Milliseconds(50);

const char* ProtocolName(Protocol p) { return p == Protocol::kUwsgi ? "uwsgi" : "http"; }


CommonVars FindCommonVars(const protocol::Request& req) {
  using protocol::NameIs;
  CommonVars v;
  for (const protocol::Var& var : req.vars) {
    const std::string_view n = var.name;
    switch (n.size()) {
      case 9:
        if (NameIs(n, "PATH_INFO")) v.path_info = var.value;
        break;
      case 11:
        if (NameIs(n, "REQUEST_URI")) {
          v.uri = var.value;
        } else if (NameIs(n, "REMOTE_ADDR")) {
          v.remote_addr = var.value;
        } else if (NameIs(n, "REMOTE_PORT")) {
          v.remote_port = var.value;
        } else if (NameIs(n, "REMOTE_USER")) {
          v.remote_user = var.value;
        } else if (NameIs(n, "SCRIPT_NAME")) {
          v.script_name = var.value;
        }
        break;
      case 14:
        if (NameIs(n, "REQUEST_METHOD")) v.method = var.value;
        break;
      case 15:
        if (NameIs(n, "SERVER_PROTOCOL")) v.protocol = var.value;
        break;
      case 20:
        if (NameIs(n, "HTTP_X_FORWARDED_FOR")) v.forwarded_for = var.value;
        break;
      default:
        break;
    }
  }
  return v;
}

// The client a request came from, as harakiri's line names it: REMOTE_ADDR[:REMOTE_PORT] (over
// uwsgi the address nginx forwards, not nginx's own socket), else the connection's peer.
// Written into *out (a string the thread reuses: no allocation per request).
std::string_view ClientText(const CommonVars& v, const Connection& c, std::string* out) {
  if (v.remote_addr.empty()) {
    out->clear();
    c.AppendPeerText(out);
    return *out;
  }
  out->assign(v.remote_addr);
  if (!v.remote_port.empty()) out->append(":").append(v.remote_port);
  return *out;
}

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
  owner_ = pthread_self();
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  KILN_CHECK(epoll_.Valid(), "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  KILN_CHECK(epoll_ctl(epoll_.Get(), EPOLL_CTL_ADD, wake_fd_, &ev) == 0, "epoll_ctl wake fd");
  UpdateAccepting(base::WallNow());
  log::SetRequestBatch(options_.request_log_buffer);
  next_sweep_ = base::WallNow() + kSweepInterval;
  events_.resize(64);
  // A handler with an event loop of its own (Python's ASGI) may run this thread from it, one
  // non-blocking Step at a time; otherwise (or if its loop ended before the stop) this loop.
  const bool driven = loop_.handler_ != nullptr && loop_.handler_->DriveThread(*this);
  if (!driven || !stopped_) {
    int64_t wait_us = 0;
    while (!stopped_) wait_us = Turn(static_cast<int>((wait_us + 999) / 1000));
  }
  stopped_ = true;
  while (!conns_.empty()) Close(conns_.begin()->second.get());
  // Detached requests still running at an immediate stop: their handler may still call them,
  // and the process is about to exit, so they are left as they are.
  for (auto& [fd, a] : async_) (void)a.release();
  SetAccepting(false);
  log::SetRequestBatch(0);  // writes what is left
  loop_.running_.fetch_sub(1, std::memory_order_release);
}

int64_t ServeThread::Step() {
  if (!stopped_) {
    int64_t wait_us = Turn(0);
    // Run's loop turns again at once and gives the listen sockets back at the top of Turn once
    // a fresh connection's request is in (or it closed). Driven from an event loop, nothing
    // turns again until the epoll fd is readable or the wait passes, and with the listen
    // sockets out of the epoll set neither happens before kFreshGrace: so do it here.
    if (!stopped_ && fresh_fd_ >= 0) {
      const absl::Time now = base::WallNow();
      UpdateAccepting(now);
      if (fresh_fd_ < 0) wait_us = std::max<int64_t>(0, absl::ToInt64Microseconds(next_sweep_ - now));
    }
    if (!stopped_) return wait_us;
  }
  if (loop_.stop_immediate()) return kStopNow;
  // This thread is done, but the event loop driving it may still be answering requests of the
  // worker's other threads: it goes on until they stopped too. Only the wake fd can still be
  // ready here (no listener, no connection is left in the epoll set).
  if (loop_.running_.load(std::memory_order_acquire) > 1) {
    uint64_t v;
    (void)!read(wake_fd_, &v, sizeof(v));
    return absl::ToInt64Microseconds(kSweepInterval);
  }
  return kStopGraceful;
}

int64_t ServeThread::Turn(int timeout_ms) {
  Busy busy(busy_);
  if (loop_.stop_immediate()) {
    stopped_ = true;
    return 0;
  }
  if (!drained_ && loop_.stopping()) {
    drained_ = true;
    if (loop_.drain_listeners()) DrainListeners();
    WsGoingAway();
  }
  // Only a pending fresh connection or a stop changes whether this thread accepts (an
  // accept error's pause ends in Sweep): the common path reads no clock here.
  if (fresh_fd_ >= 0 || (accepting_ && loop_.stopping())) UpdateAccepting(base::WallNow());
  if (loop_.stopping()) {
    // A graceful stop never closes a connection that may be carrying a request: requests
    // that arrive are served (with Connection: close), and an idle keep-alive connection is
    // closed only after keepalive_drain, by when a front end's pool has let it go itself.
    CloseDrained(base::WallNow());
    if (conns_.empty() && async_.empty()) {
      stopped_ = true;
      return 0;
    }
  }
  int n = epoll_wait(epoll_.Get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
  if (n < 0 && errno != EINTR) {
    KILN_CHECK(false, "epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events_[i].data.u64;
    if (tag == kWakeTag) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof(v));
      RunAsyncCommands();
    } else if ((tag & kListenTag) != 0) {
      if (accepting_) Accept(static_cast<size_t>(tag & 0xffffffffu), i == n - 1);
    } else {
      auto it = conns_.find(static_cast<int>(tag));
      if (it != conns_.end()) {
        (void)OnEvent(it->second.get());
      } else if (auto a = async_.find(static_cast<int>(tag)); a != async_.end()) {
        AsyncOnEvent(a->second.get(), events_[i].events);
      }
    }
  }
  RunLocalCommands();
  const absl::Time now = base::WallNow();
  if (now >= next_sweep_) {
    Sweep(now);
    next_sweep_ = now + kSweepInterval;
  }
  // Request-log batches age out on the logger's flusher thread (log::SetRequestBatch):
  // flushing whenever this thread was about to sleep cost a zero-timeout epoll_wait per
  // wakeup, more than the writes it saved.
  absl::Duration wait = next_sweep_ - now;
  if (fresh_fd_ >= 0) wait = std::min(wait, fresh_until_ - now + absl::Milliseconds(1));
  return std::max<int64_t>(0, absl::ToInt64Microseconds(wait));
}

void ServeThread::UpdateAccepting(absl::Time now) {
  if (fresh_fd_ >= 0) {
    auto it = conns_.find(fresh_fd_);
    if (it == conns_.end() || it->second->requests > 0 ||
        it->second->state != Connection::State::kReadingHead || it->second->size() > 0 ||
        now >= fresh_until_) {
      fresh_fd_ = -1;
    }
  }
  SetAccepting(!loop_.stopping() && !accept_paused_ && fresh_fd_ < 0);
}

void ServeThread::CloseDrained(absl::Time now) {
  std::vector<Connection*> drained;
  for (auto& [fd, c] : conns_) {
    if (c->state == Connection::State::kIdle && c->size() == 0 &&
        now - c->idle_since >= options_.keepalive_drain) {
      drained.push_back(c.get());
    }
  }
  for (Connection* c : drained) {
    // Bytes may be in the socket that epoll has not reported yet: closing over them would
    // reset the connection under a request. OnEvent reads them and serves the request (with
    // Connection: close), or closes on EOF; a connection with nothing to read is closed.
    if (!OnEvent(c)) continue;
    if (c->state == Connection::State::kIdle && c->size() == 0) Close(c);
  }
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
    // A unix socket's peer (nginx) has no address a log line could show (Connection names it
    // by the listen socket), so it is not asked for: copying it out is kernel work on every
    // uwsgi_pass request (unix_getname).
    sockaddr_storage peer;
    socklen_t peer_len = ls.unix_domain ? 0 : sizeof(peer);
    int fd = accept4(ls.fd, ls.unix_domain ? nullptr : reinterpret_cast<sockaddr*>(&peer),
                     ls.unix_domain ? nullptr : &peer_len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const absl::Time now = base::WallNow();
      if (errno == EINVAL) {
        // Another process shut the socket down (the instance stops, listen_drain.cc) before
        // this one's stop signal arrived: epoll reports the socket until this thread stops.
        SetAccepting(false);
        accept_paused_ = true;
        accept_resume_ = now + absl::Milliseconds(100);
        return;
      }
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
    const absl::Time now = base::WallNow();
    Connection* accepted = Adopt(fd, ls, peer_len > 0 ? &peer : nullptr, now);
    if (OnEvent(accepted)) {
      // Waiting for more of the request, or a keep-alive connection: epoll watches it now.
      Register(accepted);
      if (!ls.tcp && accepted->requests == 0 && accepted->size() == 0) {
        // Accepted on a unix socket before its request arrived (TCP listeners defer the
        // accept until data is there, listener.cc). Taking more connections now would park
        // them here while this thread later runs app code; if that code kills the worker,
        // they die with it. So this thread takes none until the request arrives or
        // kFreshGrace passes; the listen socket wakes other threads and workers meanwhile.
        fresh_fd_ = fd;
        fresh_until_ = now + kFreshGrace;
        UpdateAccepting(now);
      }
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

Connection* ServeThread::Adopt(int fd, const ListenSocket& ls, const sockaddr_storage* peer,
                               absl::Time now) {
  if (ls.tcp) {
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  Connection* c;
  if (!spare_conns_.empty()) {
    // A closed connection's map node and object, reused (see Close): a connection per
    // request (uwsgi_pass) then costs no allocation.
    decltype(conns_)::node_type node = std::move(spare_conns_.back());
    spare_conns_.pop_back();
    c = node.mapped().get();
    std::destroy_at(c);  // the blank left by Close: owns nothing
    std::construct_at(c, base::UniqueFd(fd), ls.protocol, ls.name, capacity_, peer, ls.tcp);
    node.key() = fd;
    conns_.insert(std::move(node));
  } else {
    auto made = std::make_unique<Connection>(base::UniqueFd(fd), ls.protocol, ls.name,
                                             capacity_, peer, ls.tcp);
    c = made.get();
    conns_.emplace(fd, std::move(made));
  }
  c->state = Connection::State::kReadingHead;
  c->deadline = now + options_.socket_timeout;
  c->proxy_header_pending = ProxyHeaderExpected(options_, ls, peer);
  return c;
}

void ServeThread::Register(Connection* c) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(c->fd());
  KILN_CHECK(epoll_ctl(epoll_.Get(), EPOLL_CTL_ADD, c->fd(), &ev) == 0,
             "epoll_ctl ADD connection");
  c->registered = true;
}

bool ServeThread::OnEvent(Connection* c) {
  if (c->state == Connection::State::kDiscardingBody ||
      c->state == Connection::State::kLingering) {
    return Discard(c);
  }
  bool would_block = false;
  absl::StatusOr<size_t> n = c->ReadAvailable(&would_block);
  if (would_block) return true;
  // EOF or reset: a half-sent head is the client's choice to leave; nothing to answer. A
  // full buffer is left for the parser, which answers 431.
  if ((!n.ok() && !absl::IsResourceExhausted(n.status())) || (n.ok() && *n == 0)) {
    Close(c);
    return false;
  }
  // A body's deadline is time without progress (socket-timeout): every read that brought
  // bytes moves it. A head's is not moved, so a trickled head cannot hold a connection.
  if (c->state == Connection::State::kReadingBody) {
    c->deadline = base::WallNow() + options_.socket_timeout;
  }
  return ProcessBuffered(c);
}

bool ServeThread::Discard(Connection* c) {
  size_t budget = kDiscardPerEvent;
  while (budget > 0) {
    // A discarded body ends where the next request begins: read no further than that.
    const size_t want = static_cast<size_t>(
        c->state == Connection::State::kDiscardingBody ? std::min<uint64_t>(budget, c->discard_left)
                                                       : budget);
    bool would_block = false;
    absl::StatusOr<size_t> n = c->ReadAndDiscard(want, &would_block);
    if (would_block) return true;
    if (!n.ok() || *n == 0) {  // the client is done (or gone): nothing left to wait for
      Close(c);
      return false;
    }
    budget -= *n;
    if (c->state == Connection::State::kLingering) {
      if (*n >= c->discard_left) {
        Close(c);
        return false;
      }
      c->discard_left -= *n;
      continue;
    }
    c->discard_left -= *n;
    if (c->discard_left == 0) {
      c->state = Connection::State::kIdle;
      c->idle_since = base::WallNow();
      c->deadline = c->idle_since + options_.http_timeout;
      return ProcessBuffered(c);
    }
  }
  return true;
}

ServeThread::Progress ServeThread::ParseHead(Connection* c, protocol::HttpHead* head,
                                             size_t* consumed) {
  if (c->protocol() == Protocol::kUwsgi) {
    protocol::UwsgiParseResult r =
        protocol::ParseUwsgi(c->data(), c->size(), options_.buffer_size, &req_, head);
    if (r.status == protocol::ParseStatus::kIncomplete) return Progress::kWait;
    if (r.status == protocol::ParseStatus::kError) {
      if (r.error == protocol::UwsgiError::kBlockTooLarge) {
        log::Warn("uwsgi: %s from %s; answered 431", log::LogSafeText(r.message), c->PeerText());
        (void)c->WriteAll(protocol::ErrorResponse(431, r.message), options_.socket_timeout);
        return LingeringClose(c) ? Progress::kAnswered : Progress::kClosed;
      }
      if (r.error == protocol::UwsgiError::kBadContentLength) {
        // The value quoted with '"' and '\\' escaped too, so it cannot end the quotes.
        log::Warn("uwsgi: invalid request from %s: CONTENT_LENGTH \"%s\" is not a number; "
                  "connection closed", c->PeerText(),
                  log::LogSafe(req_.Get("CONTENT_LENGTH").value_or("")));
      } else {
        log::Warn("uwsgi: invalid request from %s: %s; connection closed", c->PeerText(),
                  log::LogSafeText(r.message));
      }
      Close(c);
      return Progress::kClosed;
    }
    *consumed = r.consumed;
    return Progress::kReady;
  }
  // Parse only once the blank line that ends the head has arrived (or the head is over the
  // limit), scanning each byte once: a client that trickles its head costs no rescans.
  if (!protocol::HttpHeadEndArrived(c->data(), c->size(), &c->head_scanned) &&
      c->size() <= options_.buffer_size && !c->Full()) {
    return Progress::kWait;
  }
  // The Connection's address strings live as long as the connection, longer than the request
  // (ConnectionInfo's contract): OwnHead leaves the views into them alone.
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
      return Progress::kWait;
    }
  }
  if (r.status == protocol::ParseStatus::kError) {
    log::Warn("http: bad request from %s: %s; answered %d", c->PeerText(),
              log::LogSafeText(r.message), r.http_status);
    (void)c->WriteAll(protocol::ErrorResponse(r.http_status, r.message), options_.socket_timeout);
    return LingeringClose(c) ? Progress::kAnswered : Progress::kClosed;
  }
  *consumed = r.consumed;
  return Progress::kReady;
}

bool ServeThread::ProcessBuffered(Connection* c) {
  while (true) {
    if (c->size() == 0) {
      if (c->requests > 0 && c->state != Connection::State::kIdle) {
        c->state = Connection::State::kIdle;
        c->idle_since = base::WallNow();
        c->deadline = c->idle_since + options_.http_timeout;
      }
      if (c->state == Connection::State::kIdle) c->ReleaseBuffer();
      return true;
    }
    if (c->state == Connection::State::kIdle) {
      c->state = Connection::State::kReadingHead;
      c->deadline = base::WallNow() + options_.socket_timeout;
    }
    if (c->proxy_header_pending) {
      // Before the first head; its deadline (from the accept, never moved) covers both.
      std::string why;
      const protocol::ParseStatus proxy = TakeProxyHeader(c, &why);
      if (proxy == protocol::ParseStatus::kIncomplete) return true;
      if (proxy == protocol::ParseStatus::kError) {
        log::Warn("http: %s from %s; connection closed", why, c->PeerText());
        Close(c);
        return false;
      }
      continue;
    }
    if (c->state == Connection::State::kReadingBody) {
      const Progress body = CollectBody(c);
      if (body != Progress::kReady) return body != Progress::kClosed;
    }
    c->EnsureTailRoom(kTailRoom);
    protocol::HttpHead head;
    size_t consumed = 0;
    const Progress ready = ParseHead(c, &head, &consumed);
    if (ready != Progress::kReady) return ready != Progress::kClosed;
    if (c->state != Connection::State::kReadingBody && WaitForBufferedBody(c, head, consumed)) {
      return true;
    }
    c->head_scanned = 0;
    // The request takes its own copy of the head before the buffer moves on: the body reader,
    // the next read and the next request may all reuse those bytes while the request (its
    // log line, its harakiri entry, its write-failure warning) still needs them.
    req_.OwnHead(c->data(), consumed);
    c->Consume(consumed);
    const After next = ServeOne(c, head);
    if (next == After::kDetached) return false;  // c is the handler's now (async_)
    req_.Clear();
    ReleaseBody(c);
    ++c->requests;
    if (loop_.stop_immediate()) {
      Close(c);
      return false;
    }
    switch (next) {
      case After::kNextRequest:
        c->state = Connection::State::kIdle;
        c->idle_since = base::WallNow();
        c->deadline = c->idle_since + options_.http_timeout;
        continue;
      case After::kDiscardBody:
        // The thread is free again; the event loop reads the rest of the body and throws it
        // away, for at most socket-timeout: a client that sends it slowly holds an fd, not
        // this thread.
        c->state = Connection::State::kDiscardingBody;
        c->deadline = base::WallNow() + options_.socket_timeout;
        return true;
      case After::kClose:
      case After::kDetached:  // not reached: returned above
        Close(c);
        return false;
      case After::kLingeringClose:
        return LingeringClose(c);
    }
  }
}

bool ServeThread::WaitForBufferedBody(Connection* c, const protocol::HttpHead& head,
                                      size_t head_len) {
  // post-buffering: a Content-Length body up to that size is collected by the event loop, so
  // a client that sends its body slowly holds a file descriptor, not this thread.
  // A body over limit-post is refused (413) before any of it is collected.
  if (options_.post_buffering == 0 || head.framing != protocol::BodyFraming::kContentLength ||
      head.content_length > options_.post_buffering ||
      (options_.limit_post > 0 && head.content_length > options_.limit_post)) {
    return false;
  }
  const size_t total = head_len + static_cast<size_t>(head.content_length);
  if (c->size() >= total) return false;
  c->state = Connection::State::kReadingBody;
  c->deadline = base::WallNow() + options_.socket_timeout;
  Connection::PendingBody& b = c->body;
  b.head_len = head_len;
  b.length = head.content_length;
  b.spooled = 0;
  // Memory for the body up to the worker's budget (so RSS does not grow with the number of
  // uploading connections); past it the body goes to a file as it arrives.
  if (loop_.TakeBodyMemory(b.length)) {
    b.charged = b.length;
    c->Reserve(total);
    req_.Clear();  // the head is parsed again, from the buffer, once the body is complete
    return true;
  }
  absl::StatusOr<base::UniqueFd> spool = OpenSpoolFile();
  if (!spool.ok()) {
    // No file to spill to: read this body on the serving thread (ServeOne's BufferBody), as
    // without post-buffering, rather than exceed the memory budget.
    log::Error("post-buffering: %s; reading the body from %s while serving it",
               base::Sv(spool.status().message()), c->PeerText());
    c->state = Connection::State::kReadingHead;
    return false;
  }
  b.spool = std::move(*spool);
  req_.Clear();
  return true;
}

ServeThread::Progress ServeThread::CollectBody(Connection* c) {
  Connection::PendingBody& b = c->body;
  if (!b.spool.Valid()) {
    return c->size() >= b.head_len + b.length ? Progress::kReady : Progress::kWait;
  }
  const size_t here = c->size() - b.head_len;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(here, b.length - b.spooled));
  if (n > 0) {
    if (absl::Status s = WriteSpool(b.spool.Get(), c->data() + b.head_len, n); !s.ok()) {
      log::Error("post-buffering: %s; answered 500 to %s", base::Sv(s.message()),
                 c->PeerText());
      (void)c->WriteAll(protocol::ErrorResponse(500), options_.socket_timeout);
      return LingeringClose(c) ? Progress::kAnswered : Progress::kClosed;
    }
    c->Cut(b.head_len, n);
    b.spooled += n;
  }
  return b.spooled == b.length ? Progress::kReady : Progress::kWait;
}

void ServeThread::ReleaseBody(Connection* c) {
  Connection::PendingBody& b = c->body;
  if (b.charged > 0) {
    loop_.GiveBackBodyMemory(b.charged);
    c->EndReserve();
  }
  b = Connection::PendingBody{};
}

ServeThread::After ServeThread::ServeOne(Connection* c, const protocol::HttpHead& head) {
  const absl::Time start = base::WallNow();
  const bool keep_alive_allowed = options_.http_keepalive > 0 && !loop_.stopping();
  ConnectionRequest ctx(*c, req_, head, options_, keep_alive_allowed, loop_.worker_id_, core_id_,
                        &response_buffers_);
  ctx.set_loop(&loop_);
  // req_ stays as it is until the request is done (the ConnectionRequest the handler is given
  // holds it const), so the log line reads the same variables the harakiri entry found.
  // One pass finds what the harakiri entry, the log line and the routing read.
  const CommonVars vars = FindCommonVars(req_);
  serving_vars_ = &vars;
  ctx.set_paths(vars.script_name, vars.path_info);
  if (loop_.observer_ != nullptr) {
    loop_.observer_->RequestStarted(core_id_, vars.method, vars.uri,
                                    ClientText(vars, *c, &client_text_), absl::ZeroDuration());
  }
  bool refused = false;
  bool static_file = false;
  if (options_.limit_post > 0 && head.framing == protocol::BodyFraming::kContentLength &&
      head.content_length > options_.limit_post) {
    const std::string why = absl::StrFormat("request body of %u bytes is over limit-post (%u)",
                                            head.content_length, options_.limit_post);
    log::Warn("%s: %s from %s; answered 413", ProtocolName(c->protocol()), why, c->PeerText());
    ctx.Refuse(413, why);
    refused = true;
  } else if (c->body.spool.Valid()) {
    ctx.AdoptSpool(std::move(c->body.spool));
  } else if (options_.post_buffering > 0 && !ctx.body_done() && !ctx.BodyInBuffer()) {
    if (absl::Status s = ctx.BufferBody(); !s.ok()) {
      log::Warn("%s: reading the body from %s: %s", ProtocolName(c->protocol()), c->PeerText(),
                base::Sv(s.message()));
      refused = true;
    }
  }
  if (!refused) {
    static_file = loop_.statics_ != nullptr && loop_.statics_->Serve(ctx);
    if (!static_file) {
      ctx.set_detacher(this);
      loop_.handler_->Handle(ctx);
      if (detaching_ != nullptr) {
        serving_vars_ = nullptr;
        return Detached(c, std::move(ctx), start);
      }
    }
  }
  const After next = FinishRequest(c, ctx, req_, start, static_file);
  serving_vars_ = nullptr;
  response_buffers_.Trim();
  return next;
}

ServeThread::After ServeThread::FinishRequest(Connection* c, ConnectionRequest& ctx,
                                              const protocol::Request& req, absl::Time start,
                                              bool static_file) {
  bool keep = ctx.Finish();
  if (c->protocol() == Protocol::kUwsgi) keep = false;
  // A body the app left unread: what is buffered goes now; the rest is never waited for here.
  const std::optional<uint64_t> unread = ctx.DiscardBuffered();
  After next = After::kClose;
  if (keep && unread == 0) {
    next = After::kNextRequest;
  } else if (keep && unread.has_value() && *unread <= kMaxDiscard) {
    c->discard_left = *unread;
    next = After::kDiscardBody;
  } else if (unread != 0 || c->size() > 0) {
    // The client may still be sending (the body, or requests it pipelined): a plain close
    // would reset the connection and could take the answer with it.
    next = After::kLingeringClose;
  }
  // One clock read for the observer's and the log line's duration.
  const absl::Duration duration = base::WallNow() - start;
  if (loop_.observer_ != nullptr) {
    RequestOutcome out;
    out.status = ctx.status();
    out.response_bytes = ctx.body_bytes() + ctx.header_bytes();
    out.duration_ns = absl::ToInt64Nanoseconds(duration);
    out.static_file = static_file;
    out.write_error = ctx.write_error();
    out.read_error = ctx.read_error();
    out.app_error = ctx.app_error();
    loop_.observer_->RequestFinished(core_id_, out);
    MarkOldestInFlight();
  }
  if (ctx.write_error() && !options_.ignore_write_errors) {
    log::Warn("%s: writing the response to %s for %s %s failed: %s", ProtocolName(c->protocol()),
              c->PeerText(), log::LogSafe(req.Get("REQUEST_METHOD").value_or("")),
              log::LogSafe(req.Get("REQUEST_URI").value_or("")), ctx.write_error_text());
  }
  LogRequest(c, ctx, req, start, duration);
  return next;
}

// harakiri's clock is a serving thread's oldest request in flight. With detached requests
// (ASGI) many run at once: a newer one must not restart the clock of an older one still
// running (a worker whose event loop is stuck in one request would escape harakiri as long as
// traffic arrives, and the log would name the wrong request), and one finishing must not stop
// it while others run. A request the thread runs itself (WSGI, static) has the clock while it
// runs, and gives it back to the oldest detached one when it finishes.
void ServeThread::MarkOldestInFlight() {
  if (loop_.observer_ == nullptr || in_flight_.empty()) return;
  const AsyncConn* a = in_flight_.begin()->second;
  const CommonVars v = FindCommonVars(*a->req);
  loop_.observer_->RequestStarted(core_id_, v.method, v.uri,
                                  ClientText(v, *a->conn, &client_text_), base::WallNow() - a->start);
}

void ServeThread::LogRequest(Connection* c, const ConnectionRequest& ctx,
                             const protocol::Request& req, absl::Time start,
                             absl::Duration duration) {
  const uint64_t count = loop_.CountRequest();
  if (!log::ShouldLogRequest(ctx.status(), options_.disable_logging, options_.log_4xx,
                             options_.log_5xx, options_.log_slow_ms, duration,
                             options_.log_sendfile, ctx.via_sendfile())) {
    return;
  }
  log::RequestLogEntry e;
  e.pid = pid_;
  e.worker_id = loop_.worker_id_;
  e.core_id = core_id_;
  e.app_requests = count;
  e.worker_requests = count;
  const CommonVars v =
      serving_vars_ != nullptr && &req == &req_ ? *serving_vars_ : FindCommonVars(req);
  e.remote_addr = v.remote_addr;
  // as uWSGI: the header's whole value, when present
  if (options_.log_x_forwarded_for && !v.forwarded_for.empty()) e.remote_addr = v.forwarded_for;
  e.remote_user = v.remote_user;
  e.method = v.method;
  e.uri = v.uri;
  e.protocol = v.protocol;
  if (loop_.format_ != nullptr) {  // fields only a log-format can name
    e.host = req.Get("HTTP_HOST").value_or("");
    e.user_agent = req.Get("HTTP_USER_AGENT").value_or("");
    e.referer = req.Get("HTTP_REFERER").value_or("");
    e.content_length = req.Get("CONTENT_LENGTH").value_or("");
  }
  e.var_pairs = req.vars.size();
  e.vars_bytes =
      c->protocol() == Protocol::kUwsgi ? req.head_bytes : req.EncodedVarsSize();
  e.modifier1 = req.modifier1;
  e.modifier2 = req.modifier2;
  e.start = start;
  e.duration = duration;
  e.status = ctx.status();
  e.body_bytes = ctx.body_bytes();
  e.header_count = ctx.header_count();
  e.header_bytes = ctx.header_bytes();
  e.via_sendfile = ctx.via_sendfile();
  e.read_error = ctx.read_error();
  e.write_error = ctx.write_error();
  if (options_.memory_report || loop_.format_ != nullptr) ReadMemory(&e.vsz_bytes, &e.rss_bytes);
  if (loop_.format_ != nullptr) {
    e.var = [&req](std::string_view name) { return req.Get(name); };
    log::EmitRequestLine(loop_.format_->Format(e));
    return;
  }
  log_line_.clear();
  log::AppendDefaultRequestLine(&log_line_, e, options_.memory_report, options_.log_micros);
  log::EmitRequestLine(log_line_);
}

// nginx's lingering close. An answer is out while the client may still be sending (the rest
// of a head too large, a body over limit-post or nobody read). Closing a socket with unread
// bytes makes the kernel send a reset, and a client that gets the reset while it is still
// sending never reads the answer. So: shut down the write side (the client reads the answer,
// then EOF), and in the event loop read and throw away what still comes until the client
// closes, kLingerBytes arrived or socket-timeout passed; then close. The thread never waits.
bool ServeThread::LingeringClose(Connection* c) {
  ReleaseBody(c);
  c->Consume(c->size());
  c->ReleaseBuffer();
  if (::shutdown(c->fd(), SHUT_WR) != 0) {
    Close(c);
    return false;
  }
  c->state = Connection::State::kLingering;
  c->discard_left = kLingerBytes;
  c->deadline = base::WallNow() + options_.socket_timeout;
  return true;
}

void ServeThread::Close(Connection* c) {
  const int fd = c->fd();
  ReleaseBody(c);
  if (c->registered) (void)epoll_ctl(epoll_.Get(), EPOLL_CTL_DEL, fd, nullptr);
  decltype(conns_)::node_type node = conns_.extract(fd);
  if (node.empty()) return;
  if (spare_conns_.size() >= kSpareConnections) return;  // node destroyed: fd closed, freed
  // Kept for the next Adopt: the connection is ended now (fd closed, buffer recycled) and a
  // blank one, owning nothing, takes its place in the same memory.
  Connection* blank = node.mapped().get();
  std::destroy_at(blank);
  std::construct_at(blank, base::UniqueFd(), Protocol::kHttp, std::string_view(), 0);
  spare_conns_.push_back(std::move(node));
}

void ServeThread::Sweep(absl::Time now) {
  if (!async_.empty()) SweepAsync(now);
  if (accept_paused_ && now >= accept_resume_) {
    accept_paused_ = false;
    UpdateAccepting(now);
  }
  std::vector<Connection*> expired;
  for (auto& [fd, c] : conns_) {
    if (now >= c->deadline) expired.push_back(c.get());
  }
  for (Connection* c : expired) {
    if (c->state == Connection::State::kReadingHead && c->size() == 0 && c->requests == 0) {
      // Its request may be waiting in the socket, unread because this thread was serving
      // others (connections taken from the accept queue at a stop wait their turn): read it
      // first; the connection is silent only if nothing is there.
      if (!OnEvent(c)) continue;
      if (c->state != Connection::State::kReadingHead || c->size() > 0 || c->requests > 0) {
        continue;
      }
    }
    const bool http = c->protocol() == Protocol::kHttp;
    if (c->state == Connection::State::kReadingBody) {
      log::Warn("%s: %s sent nothing of its request body for %s; %s",
                ProtocolName(c->protocol()), c->PeerText(),
                absl::FormatDuration(options_.socket_timeout),
                http ? "answered 408" : "connection closed");
      if (http) {
        c->SendBestEffort(protocol::ErrorResponse(408));
        (void)LingeringClose(c);
        continue;
      }
    } else if (c->proxy_header_pending && c->size() > 0) {
      log::Warn("http: %s sent no complete PROXY header within %s; connection closed",
                c->PeerText(), absl::FormatDuration(options_.socket_timeout));
    } else if (c->state == Connection::State::kReadingHead && c->size() > 0) {
      if (http) {
        log::Warn("http: %s sent no complete request head within %s; answered 408",
                  c->PeerText(), absl::FormatDuration(options_.socket_timeout));
        c->SendBestEffort(protocol::ErrorResponse(408));
        (void)LingeringClose(c);
        continue;
      }
      log::Warn("uwsgi: %s sent an incomplete packet within %s; connection closed",
                c->PeerText(), absl::FormatDuration(options_.socket_timeout));
    }
    // Idle, lingering or discarding past its bound, or silent since it connected.
    Close(c);
  }
}

}  // namespace kiln::net
