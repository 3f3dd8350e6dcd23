// The stats server's sockets and connections, all non-blocking in the master's loop.
#include "core/process/stats_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/log/logger.h"
#include "core/net/listener.h"
#include "core/process/listen_queue.h"
#include "core/process/master.h"
#include "core/process/stats_http.h"

namespace kiln::process {
namespace {

constexpr size_t kMaxConnections = 64;     // more at once: the oldest is dropped
constexpr int64_t kTimerNs = 200'000'000;  // deadlines and per-second counters
constexpr int kTicksPerSecond = 5;

}  // namespace

StatsServer::StatsServer(const StatsConfig& config, Master& master, const Scoreboard& scoreboard,
                         const std::vector<BoundSocket>& sockets, uint64_t reloads,
                         std::function<InstanceState()> state)
    : config_(config),
      master_(master),
      scoreboard_(scoreboard),
      sockets_(sockets),
      reloads_(reloads),
      state_(std::move(state)),
      last_requests_(static_cast<size_t>(scoreboard.workers()), 0),
      delta_requests_(static_cast<size_t>(scoreboard.workers()), 0) {}

absl::StatusOr<std::unique_ptr<StatsServer>> StatsServer::Start(
    const StatsConfig& config, Master& master, const Scoreboard& scoreboard,
    const std::vector<BoundSocket>& sockets, uint64_t reloads,
    std::function<InstanceState()> state) {
  std::unique_ptr<StatsServer> s(
      new StatsServer(config, master, scoreboard, sockets, reloads, std::move(state)));
  net::ListenOptions lo;
  lo.backlog = 64;
  // Who may read the stats: as the other sockets under chmod-socket, else the owner only.
  lo.mode = config.mode.value_or(0600);
  auto fd = net::Listen(config.address, lo);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrFormat("option `stats = %s`: %s",
                                                            config.text, fd.status().message()));
  }
  s->listen_ = std::move(*fd);
  s->timer_.Reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!s->timer_) return base::ErrnoError(errno, "timerfd_create", "stats");
  itimerspec its{};
  its.it_interval.tv_nsec = kTimerNs;
  its.it_value.tv_nsec = kTimerNs;
  timerfd_settime(s->timer_.Get(), 0, &its, nullptr);
  StatsServer* self = s.get();
  master.Watch(s->listen_.Get(), POLLIN, [self](short) { self->OnAccept(); });
  master.Watch(s->timer_.Get(), POLLIN, [self](short) { self->OnTimer(); });
  log::Notice("stats server%s enabled on %s fd %d", config.http ? " (HTTP)" : "",
              config.address.ToString(), s->listen_.Get());
  return s;
}

StatsServer::~StatsServer() {
  for (const auto& [fd, c] : conns_) master_.Unwatch(fd);
  conns_.clear();
  if (timer_) master_.Unwatch(timer_.Get());
  if (listen_) {
    master_.Unwatch(listen_.Get());
    net::VacuumUnixSocket(config_.address, listen_.Get());
  }
}

void StatsServer::CloseInChild() {
  for (auto& [fd, c] : conns_) c.fd.Reset();
  listen_.Reset();
  timer_.Reset();
}

void StatsServer::OnAccept() {
  for (int i = 0; i < 16; ++i) {
    int fd = accept4(listen_.Get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an error the next wakeup retries
    if (conns_.size() >= kMaxConnections) {
      // Full: the connection closest to its deadline goes, so clients that connect and say
      // nothing cannot lock everyone else out for socket-timeout.
      auto oldest = conns_.begin();
      for (auto it = conns_.begin(); it != conns_.end(); ++it) {
        if (it->second.deadline_ns < oldest->second.deadline_ns) oldest = it;
      }
      Close(oldest->first);
    }
    Conn& c = conns_[fd];
    c.fd.Reset(fd);
    c.deadline_ns = MonotonicNanos() + absl::ToInt64Nanoseconds(config_.timeout);
    if (config_.http) {
      master_.Watch(fd, POLLIN, [this, fd](short ev) { OnConn(fd, ev); });
      continue;
    }
    // Plain mode: the document at once, no request read (as uWSGI).
    c.out = StatsJson(Input());
    c.writing = true;
    Flush(fd);
  }
}

void StatsServer::OnConn(int fd, short revents) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (c.writing) {
    Flush(fd);
    return;
  }
  if ((revents & (POLLERR | POLLNVAL)) != 0) {
    Close(fd);
    return;
  }
  if (!ReadStatsRequest(c.fd.Get(), &c.in)) return;
  c.out = Answer(c.in);
  c.writing = true;
  Flush(fd);
}

std::string StatsServer::Answer(const std::string& request) {
  return AnswerStatsRequest(
      request, StatsPages{[this] { return StatsJson(Input()); },
                          [this] { return MetricsText(Input()); },
                          [this] { return CheckReadiness(scoreboard_, state_()); }});
}

void StatsServer::Flush(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  while (c.sent < c.out.size()) {
    ssize_t n = send(fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      master_.Watch(fd, POLLOUT, [this, fd](short ev) { OnConn(fd, ev); });
      return;
    }
    break;  // the reader is gone
  }
  Close(fd);
}

void StatsServer::Close(int fd) {
  master_.Unwatch(fd);
  conns_.erase(fd);
}

void StatsServer::OnTimer() {
  uint64_t expirations = 0;
  (void)read(timer_.Get(), &expirations, sizeof(expirations));
  const int64_t now = MonotonicNanos();
  std::vector<int> late;
  for (const auto& [fd, c] : conns_) {
    if (now >= c.deadline_ns) late.push_back(fd);
  }
  for (int fd : late) Close(fd);  // a reader slower than socket-timeout: dropped
  if (++ticks_ < kTicksPerSecond) return;
  ticks_ = 0;
  for (int w = 1; w <= scoreboard_.workers(); ++w) {
    const size_t i = static_cast<size_t>(w - 1);
    const uint64_t r = scoreboard_.worker(w).requests.load(std::memory_order_relaxed);
    delta_requests_[i] = r >= last_requests_[i] ? r - last_requests_[i] : r;
    last_requests_[i] = r;
  }
  for (const SocketStats& s : Sockets()) {
    if (s.max_queue > 0 && s.queue >= s.max_queue) ++queue_errors_;
  }
}

std::vector<SocketStats> StatsServer::Sockets() {
  std::vector<SocketStats> out;
  for (const BoundSocket& b : sockets_) {
    ListenQueue q = ReadListenQueue(b.fd.Get()).value_or(ListenQueue{});  // 0 when unknown
    out.push_back(SocketStats{b.bound.ToString(), b.spec.http ? "http" : "uwsgi",
                              static_cast<uint64_t>(q.length), static_cast<uint64_t>(q.max)});
  }
  return out;
}

StatsInput StatsServer::Input() {
  StatsInput in;
  in.scoreboard = &scoreboard_;
  in.sockets = Sockets();
  in.state = state_();
  in.pid = getpid();
  in.reloads = reloads_;
  in.listen_queue_errors = queue_errors_;
  in.delta_requests = delta_requests_;
  in.pretty = !config_.minified;
  return in;
}

}  // namespace kiln::process
