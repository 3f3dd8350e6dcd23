// Requests a handler took over (protocol::AsyncRequest, design.md "Requests answered from an
// event loop"). The connection leaves conns_ for async_ while the handler's thread answers; this
// thread does the framing (ConnectionRequest, writing into AsyncConn::out) and the socket I/O,
// never waiting on the client: body bytes are read when the handler asked for them and epoll
// says they are there, response bytes leave as the socket takes them (EPOLLOUT), and a client
// that goes away (EPOLLRDHUP, a failed write) is reported once.
#include <sys/epoll.h>
#include <unistd.h>

#include <utility>

#include "core/base/check.h"
#include "core/base/clock.h"
#include "core/base/strings.h"
#include "core/log/logger.h"
#include "core/net/serve_thread.h"

namespace kiln::net {
namespace {

// OnDrained is reported when the out buffer empties after at least this many bytes since the
// last report (KILN_ASYNC_DRAIN_BYTES in the SDK): a writer that waits for it after as many
// bytes of its own is woken, and small responses cost no event.
constexpr uint64_t kDrainEvery = 64 << 10;
constexpr size_t kBodyPiece = 64 << 10;

}  // namespace

void AsyncConn::Post(AsyncCmd&& cmd) {
  cmd.conn = this;
  thread_.PostAsync(std::move(cmd));
}

void AsyncConn::Start(int status, std::string reason,
                      std::vector<std::pair<std::string, std::string>> headers) {
  AsyncCmd cmd{AsyncCmd::Kind::kStart, this};
  cmd.status = status;
  cmd.text = std::move(reason);
  cmd.headers = std::move(headers);
  Post(std::move(cmd));
}

void AsyncConn::Write(std::string data, bool more) {
  AsyncCmd cmd{AsyncCmd::Kind::kWrite, this};
  cmd.text = std::move(data);
  cmd.flag = more;
  Post(std::move(cmd));
}

void AsyncConn::WantBody() { Post(AsyncCmd{AsyncCmd::Kind::kWantBody, this}); }

void AsyncConn::Finish(bool ok) {
  AsyncCmd cmd{AsyncCmd::Kind::kFinish, this};
  cmd.flag = ok;
  Post(std::move(cmd));
}

void ServeThread::PostAsync(AsyncCmd&& cmd) {
  // On this thread, between its turns (an event loop that drives it, calling from the app), the
  // command runs now: no queue, no wakeup. A connection not yet in async_ (a handler calling
  // before its on_request returned) or a call from inside this thread's own processing (an
  // event callback) is queued, as from another thread.
  if (pthread_equal(pthread_self(), owner_) != 0 && !stopped_) {
    if (busy_ || !cmd.conn->ctx) {
      // From inside this thread's own processing: the end of the turn runs it.
      local_cmds_.push_back(std::move(cmd));
      return;
    }
    Busy busy(busy_);
    RunAsyncCommand(cmd);
    RunLocalCommands();
    return;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(async_mu_);
    wake = async_cmds_.empty();
    async_cmds_.push_back(std::move(cmd));
  }
  if (wake) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

protocol::AsyncRequest* ServeThread::DetachCurrent(protocol::AsyncEvents* events,
                                                   std::string** sink) {
  if (detaching_ != nullptr) {
    delete events;
    return nullptr;
  }
  if (!spare_async_.empty()) {
    detaching_node_ = std::move(spare_async_.back());
    spare_async_.pop_back();
    detaching_ = detaching_node_.mapped().get();
    detaching_->Reuse(events);
  } else {
    detaching_ = new AsyncConn(*this, events);
  }
  *sink = &detaching_->out;
  return detaching_;
}

ResponseBuffers* ServeThread::DetachedBuffers() {
  if (detaching_ == nullptr) return nullptr;
  if (detaching_->buffers == nullptr) detaching_->buffers = std::make_unique<ResponseBuffers>();
  return detaching_->buffers.get();
}

void AsyncConn::Reuse(protocol::AsyncEvents* next_events) {
  events.reset(next_events);
  ws.reset();
  out.clear();
  out_pos = 0;
  sent = 0;
  drained_at = 0;
  want_body = false;
  gone = false;
  finished = false;
  cut = false;
  next = 0;
  epoll_mask = 0;
  watch_exact = false;
  io_deadline = absl::InfiniteFuture();
  if (buffers != nullptr) buffers->Trim();
}

ServeThread::After ServeThread::Detached(Connection* c, ConnectionRequest&& ctx,
                                         absl::Time start) {
  decltype(async_)::node_type node = std::move(detaching_node_);
  std::unique_ptr<AsyncConn> a = node ? std::move(node.mapped()) : std::unique_ptr<AsyncConn>(detaching_);
  detaching_ = nullptr;
  // The request's head and state move to storage of its own: this thread's Request and the
  // stack ConnectionRequest serve the next connection. A reused AsyncConn's Request (a done
  // request's, cleared) becomes this thread's, with the capacity it grew.
  if (a->req == nullptr) a->req = std::make_unique<protocol::Request>();
  std::swap(*a->req, req_);
  req_.Clear();
  a->ctx.emplace(std::move(ctx));
  a->ctx->Rebind(*a->req);
  auto it = conns_.find(c->fd());
  a->conn_node = conns_.extract(it);
  a->conn = std::move(a->conn_node.mapped());
  a->fd = a->conn->fd();
  a->start = start;
  ++a->conn->requests;
  AsyncConn* raw = a.get();
  if (!spare_in_flight_.empty()) {
    auto entry = std::move(spare_in_flight_.back());
    spare_in_flight_.pop_back();
    entry.value() = {start, raw};
    in_flight_.insert(std::move(entry));
  } else {
    in_flight_.emplace(start, raw);
  }
  if (in_flight_.size() > 1) MarkOldestInFlight();  // harakiri's clock goes back to the oldest
  // A connection in the epoll set stays registered as it was (EPOLLIN, see AsyncUpdateEpoll).
  if (raw->conn->registered) raw->epoll_mask = EPOLLIN;
  if (node) {
    node.key() = raw->fd;
    node.mapped() = std::move(a);
    async_.insert(std::move(node));
  } else {
    async_.emplace(raw->fd, std::move(a));
  }
  AsyncFlush(raw);
  AsyncUpdateEpoll(raw);
  return After::kDetached;
}

void ServeThread::RunAsyncCommands() {
  std::vector<AsyncCmd> cmds;
  {
    std::lock_guard<std::mutex> lock(async_mu_);
    cmds.swap(async_cmds_);
  }
  for (AsyncCmd& cmd : cmds) RunAsyncCommand(cmd);
}

void ServeThread::LeaveInFlight(AsyncConn* a) {
  auto entry = in_flight_.extract({a->start, a});
  if (entry && spare_in_flight_.size() < kSpareAsync) spare_in_flight_.push_back(std::move(entry));
}

void ServeThread::RunLocalCommands() {
  // In batches, each run where it lies: a command may queue more (into local_cmds_, which the
  // swap left empty), and they run after it, in order. Both vectors keep their capacity. Never
  // re-entered: it runs busy, when a command from here is queued.
  while (!local_cmds_.empty()) {
    running_cmds_.swap(local_cmds_);
    const size_t n = running_cmds_.size();
    for (size_t i = 0; i < n && !stopped_; ++i) {
      // A response answered at once comes as start, write and finish in a row: one flush.
      AsyncConn* const conn = running_cmds_[i].conn;
      RunAsyncCommand(running_cmds_[i], i + 1 == n || running_cmds_[i + 1].conn != conn);
    }
    running_cmds_.clear();
    if (stopped_) local_cmds_.clear();
  }
}

void ServeThread::RunAsyncCommand(AsyncCmd& cmd, bool settle) {
  AsyncConn* a = cmd.conn;
  ConnectionRequest& ctx = *a->ctx;
  switch (cmd.kind) {
    case AsyncCmd::Kind::kStart: {
      if (a->gone || a->finished) break;
      std::vector<protocol::Header>& headers = start_headers_;  // views for this call only
      headers.clear();
      for (const auto& [name, value] : cmd.headers) headers.push_back({name, value});
      if (absl::Status s = ctx.StartResponse(cmd.status, cmd.text, headers); !s.ok()) {
        log::Error("async response refused: %s", base::Sv(s.message()));
      }
      break;
    }
    case AsyncCmd::Kind::kWrite:
      if (a->gone || a->finished || !ctx.ResponseStarted()) break;
      (void)(cmd.flag ? ctx.WriteBodyNow(cmd.text) : ctx.WriteBody(cmd.text));
      break;
    case AsyncCmd::Kind::kWantBody:
      if (a->gone || a->finished) break;
      a->want_body = true;
      AsyncPumpBody(a);
      break;
    case AsyncCmd::Kind::kFinish: {
      if (a->finished) break;
      if (a->ws != nullptr) WsFinish(a, cmd.flag);
      a->finished = true;
      LeaveInFlight(a);
      a->want_body = false;
      if (!cmd.flag) {
        ctx.NoteAppError();
        a->cut = ctx.ResponseStarted();
      }
      const size_t framed = a->out.size();
      a->next = static_cast<int>(FinishRequest(a->conn.get(), ctx, *a->req, a->start, false));
      // A WebSocket's client answers our close frame (1011 too): read it rather than reset it.
      if (a->ws != nullptr && a->ws->accepted) {
        a->next = static_cast<int>(After::kLingeringClose);
        a->cut = false;
      }
      // Cut: what the handler wrote goes out, but no end of framing that would make a
      // truncated response look complete.
      if (a->cut) a->out.resize(framed);
      break;
    }
    default:
      if (a->ws != nullptr) WsCommand(a, cmd);
      break;
  }
  if (!settle) return;
  AsyncFlush(a);
  if (a->finished && (a->gone || a->out_pos == a->out.size())) {
    AsyncRelease(a);
  } else {
    AsyncUpdateEpoll(a);
  }
}

void ServeThread::AsyncOnEvent(AsyncConn* a, uint32_t events) {
  // Readable while no body is wanted: the client sent more (a pipelined request) or closed;
  // from now on the connection is watched for what the request needs (EPOLLRDHUP).
  if ((events & EPOLLIN) != 0 && !a->want_body) a->watch_exact = true;
  if ((events & EPOLLOUT) != 0) AsyncFlush(a);
  if ((events & EPOLLIN) != 0 && a->want_body) AsyncPumpBody(a);
  if ((events & EPOLLIN) != 0 && a->ws != nullptr) WsPump(a);
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) AsyncGone(a);
  if (a->finished && (a->gone || a->out_pos == a->out.size())) {
    AsyncRelease(a);
  } else {
    AsyncUpdateEpoll(a);
  }
}

void ServeThread::AsyncPumpBody(AsyncConn* a) {
  if (!a->want_body || a->gone) return;
  char buf[kBodyPiece];
  bool would_block = false;
  absl::StatusOr<size_t> n = a->ctx->ReadBodyNow(buf, sizeof(buf), &would_block);
  if (would_block) return;  // epoll says when more is there
  a->want_body = false;
  a->io_deadline = absl::InfiniteFuture();
  if (!n.ok()) {
    log::Warn("reading the request body from %s: %s", a->conn->PeerText(), base::Sv(n.status().message()));
    if (absl::IsResourceExhausted(n.status()) || absl::IsInvalidArgument(n.status())) {
      // A chunked body over limit-post, or malformed: the client is still there and gets the
      // 413 or 400 when the handler finishes (ConnectionRequest::Finish); the handler, which
      // cannot have the body, is told the client is gone and its own answer is dropped.
      a->events->OnDisconnect();
      return;
    }
    AsyncGone(a);
    return;
  }
  a->events->OnBody(std::string_view(buf, *n), !a->ctx->body_done());
}

void ServeThread::AsyncFlush(AsyncConn* a) {
  if (a->gone) return;
  const bool had = a->out_pos < a->out.size();
  while (a->out_pos < a->out.size()) {
    bool would_block = false;
    absl::StatusOr<size_t> n = a->conn->WriteSome(
        std::string_view(a->out).substr(a->out_pos), &would_block);
    if (!n.ok()) {
      a->ctx->NoteWriteFailed(n.status());
      AsyncGone(a);
      return;
    }
    if (would_block) return;
    a->out_pos += *n;
    a->sent += *n;
    if (*n > 0) a->io_deadline = absl::InfiniteFuture();
  }
  a->out.clear();
  a->out_pos = 0;
  if (had && !a->finished && a->sent >= a->drained_at + kDrainEvery) {
    a->drained_at = a->sent;
    a->events->OnDrained(a->sent);
  }
}

void ServeThread::SweepAsync(absl::Time now) {
  std::vector<AsyncConn*> stalled;
  std::vector<AsyncConn*> keepalive;  // WebSockets whose keepalive time came (WsKeepalive)
  ws_clock_ = now;
  for (auto& [fd, a] : async_) {
    if (now >= a->io_deadline) {
      stalled.push_back(a.get());
      continue;
    }
    if (!a->watch_exact && !a->gone) {
      // Still running after a sweep interval: watched exactly from now on (AsyncUpdateEpoll).
      a->watch_exact = true;
      AsyncUpdateEpoll(a.get());
    }
    if (a->ws != nullptr && now >= a->ws->keepalive_at) keepalive.push_back(a.get());
  }
  for (AsyncConn* a : keepalive) WsKeepalive(a, now);
  for (AsyncConn* a : stalled) {
    log::Warn("%s %s for %s; connection closed", a->conn->PeerText(),
              a->want_body ? "sent nothing of the request body it owes"
                           : "took none of the response",
              absl::FormatDuration(options_.socket_timeout));
    AsyncGone(a);
    if (a->finished) {
      AsyncRelease(a);
    } else {
      AsyncUpdateEpoll(a);
    }
  }
}

void ServeThread::AsyncGone(AsyncConn* a) {
  if (a->gone) return;
  a->gone = true;
  a->want_body = false;
  a->out.clear();
  a->out_pos = 0;
  if (!a->finished) a->events->OnDisconnect();
}

void ServeThread::AsyncUpdateEpoll(AsyncConn* a) {
  Connection* c = a->conn.get();
  uint32_t mask = 0;
  if (!a->gone) {
    mask = EPOLLRDHUP;
    if (a->want_body) mask |= EPOLLIN;
    if (a->ws != nullptr && a->ws->want && !a->ws->close_received) mask |= EPOLLIN;
    if (a->out_pos < a->out.size()) mask |= EPOLLOUT;
  }
  if (mask == 0) {
    if (c->registered) (void)epoll_ctl(epoll_.Get(), EPOLL_CTL_DEL, a->fd, nullptr);
    c->registered = false;
    a->epoll_mask = 0;
    return;
  }
  // A WebSocket may stay quiet as long as it likes; only a client that stops reading times out.
  if ((mask & (EPOLLIN | EPOLLOUT)) == 0 || (a->ws != nullptr && (mask & EPOLLOUT) == 0)) {
    a->io_deadline = absl::InfiniteFuture();
  } else if (a->io_deadline == absl::InfiniteFuture()) {
    a->io_deadline = base::WallNow() + options_.socket_timeout;
  }
  // Waiting on the handler only: a connection still registered as it was in conns_ (EPOLLIN)
  // is left so, which saves an epoll_ctl each way for a request answered at once. EPOLLIN
  // reports a close too (and errors always come); the first such event makes the mask exact.
  // Likewise a connection not in the epoll set yet (served as accepted, as nginx's are) joins it
  // only if the request lasts: the next sweep registers it (a hang-up is then seen within
  // kSweepInterval), and a request answered before that costs no epoll_ctl at all.
  const bool lazy = mask == EPOLLRDHUP && !a->watch_exact &&
                    (c->registered ? a->epoll_mask == EPOLLIN : a->epoll_mask == 0);
  if (lazy || (c->registered && mask == a->epoll_mask)) return;
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = static_cast<uint64_t>(a->fd);
  KILN_CHECK(epoll_ctl(epoll_.Get(), c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, a->fd,
                       &ev) == 0,
             "epoll_ctl on a detached connection");
  c->registered = true;
  a->epoll_mask = mask;
}

void ServeThread::AsyncRelease(AsyncConn* a) {
  const int fd = a->fd;
  const bool watching_in = a->epoll_mask == EPOLLIN;
  std::unique_ptr<Connection> c = std::move(a->conn);
  After next = static_cast<After>(a->next);
  if (a->gone || a->cut) next = After::kClose;
  LeaveInFlight(a);
  // a leaves async_ (its events are deleted: no call reaches the handler after this) and is
  // kept for the next detached request, or deleted.
  a->events.reset();
  a->ctx.reset();
  a->ws.reset();
  auto node = async_.extract(fd);
  if (spare_async_.size() < kSpareAsync) {
    spare_async_.push_back(std::move(node));
  }
  ReleaseBody(c.get());
  if (next == After::kClose) {
    if (c->registered) (void)epoll_ctl(epoll_.Get(), EPOLL_CTL_DEL, fd, nullptr);
    return;  // c closes the socket
  }
  Connection* raw = c.get();
  if (a->conn_node) {
    decltype(conns_)::node_type back = std::move(a->conn_node);
    back.key() = fd;
    back.mapped() = std::move(c);
    conns_.insert(std::move(back));
  } else {
    conns_.emplace(fd, std::move(c));
  }
  // Back to the plain reading of a connection in conns_ (unless it was never switched).
  if (!raw->registered || !watching_in) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(fd);
    KILN_CHECK(epoll_ctl(epoll_.Get(), raw->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
                         &ev) == 0,
               "epoll_ctl on a connection back from a detached request");
    raw->registered = true;
  }
  if (loop_.stop_immediate()) {
    Close(raw);
    return;
  }
  switch (next) {
    case After::kNextRequest:
      raw->state = Connection::State::kIdle;
      raw->idle_since = base::WallNow();
      raw->deadline = raw->idle_since + options_.http_timeout;
      (void)ProcessBuffered(raw);  // a request it pipelined behind this one
      return;
    case After::kDiscardBody:
      raw->state = Connection::State::kDiscardingBody;
      raw->deadline = base::WallNow() + options_.socket_timeout;
      return;
    case After::kLingeringClose:
      (void)LingeringClose(raw);
      return;
    default:
      Close(raw);
      return;
  }
}

}  // namespace kiln::net
