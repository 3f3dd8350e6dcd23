// The carbon pusher (carbon.h), after uWSGI 2.0's plugins/carbon/carbon.c: the same metric
// names and arithmetic, but one non-blocking connection per server driven by the master's
// poll loop instead of uWSGI's blocking connect-and-write in its stats-pusher thread.
#include "core/process/carbon.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/config/config.h"
#include "core/log/logger.h"
#include "core/process/master.h"

namespace kiln::process {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// One `PREFIXname VALUE TIMESTAMP` line.
void Line(std::string* out, const std::string& prefix, std::string_view name, uint64_t value,
          int64_t now) {
  absl::StrAppend(out, prefix, base::Av(name), " ", value, " ", now, "\n");
}

absl::Status Bad(std::string_view option, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("option `%s = %s`: %s", option, value, why));
}

}  // namespace

absl::StatusOr<CarbonOptions> ReadCarbonOptions(const config::Config& cfg) {
  CarbonOptions o;
  o.servers = cfg.GetList("carbon");
  o.freq = cfg.GetDuration("carbon-freq");
  o.timeout = cfg.GetDuration("carbon-timeout");
  o.id = cfg.GetString("carbon-id");
  o.root = cfg.GetString("carbon-root");
  o.hostname_dots = cfg.GetString("carbon-hostname-dots");
  o.no_workers = cfg.GetFlag("carbon-no-workers");
  // uWSGI: a frequency or timeout below one second means the default.
  if (o.freq < absl::Seconds(1)) o.freq = absl::Seconds(60);
  if (o.timeout < absl::Seconds(1)) o.timeout = absl::Seconds(3);
  if (!o.servers.empty() && !cfg.GetFlag("master") && cfg.GetNumber("processes") <= 1) {
    return absl::InvalidArgumentError(
        "option `carbon` needs `master = true`: the master pushes the metrics (as uWSGI)");
  }
  return o;
}

std::string CarbonLines(const std::string& prefix, const Scoreboard& sb, const CarbonSample& s,
                        absl::Duration freq, bool no_workers, CarbonState* state) {
  const int n = sb.workers();
  state->last_running_ns.resize(static_cast<size_t>(n), 0);
  state->was_busy.resize(static_cast<size_t>(n), 0);
  const int64_t now = s.now_unix;
  const auto freq_us = static_cast<uint64_t>(absl::ToInt64Microseconds(freq));
  uint64_t requests = 0;
  for (int w = 1; w <= n; ++w) requests += sb.worker(w).total_requests.load(kRelaxed);
  std::string out;
  Line(&out, prefix, "requests", requests, now);
  uint64_t total_rss = 0, total_vsz = 0, total_respawns = 0, total_tx = 0, total_avg_rt = 0;
  uint64_t active = 0, busy = 0, idle = 0, total_busyness = 0, total_harakiri = 0,
           total_exceptions = 0;
  // uWSGI's carbon-idle-avg `last` (its default): averages are pushed also when idle.
  for (int w = 1; w <= n; ++w) {
    const WorkerSlot& slot = sb.worker(w);
    const WorkerSnapshot snap = *sb.Snapshot(w);
    const size_t i = static_cast<size_t>(w - 1);
    const uint64_t running = slot.running_ns.load(kRelaxed);
    const uint64_t last = state->last_running_ns[i];
    const uint64_t busy_us = (running >= last ? running - last : running) / 1000;
    state->last_running_ns[i] = running;
    state->was_busy[i] += snap.busy ? 1 : 0;
    const uint64_t worker_requests = slot.requests.load(kRelaxed);
    const uint64_t tx = slot.response_bytes.load(kRelaxed);
    const uint64_t exceptions = slot.exceptions.load(kRelaxed);
    const uint64_t harakiri = slot.harakiri_count.load(kRelaxed);
    const uint64_t respawns = slot.respawn_count.load(kRelaxed);
    total_tx += tx;
    total_harakiri += harakiri;
    total_respawns += respawns;
    total_exceptions += exceptions;
    uint64_t avg_rt = 0, busyness = 0;
    const bool cheaped = slot.cheap.load(kRelaxed) != 0;
    if (!cheaped) {
      avg_rt = worker_requests == 0 ? 0 : running / 1000 / worker_requests;  // microseconds
      ++active;
      if (snap.busy) {
        ++busy;
      } else if (snap.pid != 0) {
        ++idle;
      }
      total_avg_rt += avg_rt;
      if (busy_us == 0 && state->was_busy[i] != 0) {
        busyness = 100;
      } else {
        busyness = freq_us == 0 ? 0 : std::min<uint64_t>(busy_us * 100 / freq_us, 100);
      }
      total_busyness += busyness;
      state->was_busy[i] = 0;
      if (s.memory_report) {
        total_rss += slot.rss_bytes.load(kRelaxed);
        total_vsz += slot.vsz_bytes.load(kRelaxed);
      }
    }
    if (no_workers) continue;
    const std::string wp = absl::StrCat("worker", w, ".");
    Line(&out, prefix, wp + "requests", worker_requests, now);
    if (s.memory_report) {
      Line(&out, prefix, wp + "rss_size", slot.rss_bytes.load(kRelaxed), now);
      Line(&out, prefix, wp + "vsz_size", slot.vsz_bytes.load(kRelaxed), now);
    }
    Line(&out, prefix, wp + "avg_rt", avg_rt, now);
    Line(&out, prefix, wp + "tx", tx, now);
    Line(&out, prefix, wp + "busyness", busyness, now);
    Line(&out, prefix, wp + "harakiri", harakiri, now);
    Line(&out, prefix, wp + "respawns", respawns, now);
    Line(&out, prefix, wp + "exceptions", exceptions, now);
  }
  if (s.memory_report) {
    Line(&out, prefix, "rss_size", total_rss, now);
    Line(&out, prefix, "vsz_size", total_vsz, now);
  }
  Line(&out, prefix, "avg_rt", active == 0 ? 0 : total_avg_rt / active, now);
  Line(&out, prefix, "tx", total_tx, now);
  Line(&out, prefix, "busyness", active == 0 ? 0 : std::min<uint64_t>(total_busyness / active, 100),
       now);
  Line(&out, prefix, "active_workers", active, now);
  Line(&out, prefix, "busy_workers", busy, now);
  Line(&out, prefix, "idle_workers", idle, now);
  if (s.cheaper) {
    Line(&out, prefix, "cheaped_workers", static_cast<uint64_t>(n) - active, now);
  }
  Line(&out, prefix, "harakiri", total_harakiri, now);
  Line(&out, prefix, "respawns", total_respawns, now);
  Line(&out, prefix, "exceptions", total_exceptions, now);
  return out;
}

Carbon::Carbon(const CarbonOptions& options, Master& master, const Scoreboard& sb)
    : o_(options), master_(master), sb_(sb) {}

absl::StatusOr<std::unique_ptr<Carbon>> Carbon::Start(const CarbonOptions& options,
                                                      Master& master, const Scoreboard& sb,
                                                      const std::string& first_socket,
                                                      bool memory_report, bool cheaper) {
  if (options.servers.empty()) return nullptr;
  std::unique_ptr<Carbon> c(new Carbon(options, master, sb));
  c->memory_report_ = memory_report;
  c->cheaper_ = cheaper;
  for (const std::string& text : options.servers) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
      return Bad("carbon", text, "expected HOST:PORT, such as 127.0.0.1:2003");
    }
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), text.c_str() + colon + 1, &hints, &res);
    if (rc != 0 || res == nullptr) {
      return Bad("carbon", text, absl::StrCat("cannot resolve it: ", gai_strerror(rc)));
    }
    auto s = std::make_unique<Server>();
    s->text = text;
    std::memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    c->servers_.push_back(std::move(s));
  }
  std::string id = options.id;
  if (id.empty()) id = absl::StrReplaceAll(first_socket, {{".", "_"}});
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  std::string hostname = name;
  if (!options.hostname_dots.empty()) {
    std::replace(hostname.begin(), hostname.end(), '.', options.hostname_dots[0]);
  }
  std::string root = options.root;
  if (!root.empty() && root.back() != '.') root.push_back('.');
  c->prefix_ = absl::StrCat(root, hostname, ".", id, ".");
  log::Notice("carbon: pushing %s* every %s to %d server(s), timeout %s", c->prefix_,
              absl::FormatDuration(options.freq), c->servers_.size(),
              absl::FormatDuration(options.timeout));
  return c;
}

Carbon::~Carbon() {
  for (auto& s : servers_) {
    if (s->fd) master_.Unwatch(s->fd.Get());
  }
}

void Carbon::Tick(int64_t now_ns) {
  for (auto& s : servers_) {
    if (s->fd && now_ns >= s->deadline_ns) {
      Finish(*s, absl::StrFormat("no answer within carbon-timeout (%s)",
                                 absl::FormatDuration(o_.timeout)));
    }
  }
  if (now_ns < next_push_ns_) return;
  next_push_ns_ = now_ns + absl::ToInt64Nanoseconds(o_.freq);
  Push(now_ns);
}

void Carbon::Push(int64_t now_ns) {
  CarbonSample sample{static_cast<int64_t>(time(nullptr)), memory_report_, cheaper_};
  const std::string lines = CarbonLines(prefix_, sb_, sample, o_.freq, o_.no_workers, &state_);
  for (auto& sp : servers_) {
    Server& s = *sp;
    if (s.fd) Finish(s, "the previous push is still being sent");
    base::UniqueFd fd(socket(s.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      log::Error("carbon: %s: socket: %s", s.text, base::ErrnoText(errno));
      continue;
    }
    if (connect(fd.Get(), reinterpret_cast<const sockaddr*>(&s.addr), s.addr_len) != 0 &&
        errno != EINPROGRESS) {
      log::Error("carbon: could not connect to carbon server at %s: %s", s.text,
                 base::ErrnoText(errno));
      continue;
    }
    s.fd = std::move(fd);
    s.out = lines;
    s.sent = 0;
    s.connected = false;
    s.deadline_ns = now_ns + absl::ToInt64Nanoseconds(o_.timeout);
    Server* server = &s;
    master_.Watch(s.fd.Get(), POLLOUT, [this, server](short revents) { OnReady(*server, revents); });
  }
}

void Carbon::OnReady(Server& s, short revents) {
  if (!s.connected) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s.fd.Get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (revents & (POLLERR | POLLHUP)) != 0) {
      Finish(s, absl::StrCat("could not connect: ", base::ErrnoText(err != 0 ? err : ECONNRESET)));
      return;
    }
    s.connected = true;
  }
  while (s.sent < s.out.size()) {
    ssize_t n = send(s.fd.Get(), s.out.data() + s.sent, s.out.size() - s.sent,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // the rest when it drains
      Finish(s, absl::StrCat("write: ", base::ErrnoText(errno)));
      return;
    }
    s.sent += static_cast<size_t>(n);
  }
  Finish(s, "");
}

void Carbon::Finish(Server& s, const std::string& error) {
  if (!error.empty()) {
    log::Error("carbon: push to %s failed: %s", s.text, error);
  }
  master_.Unwatch(s.fd.Get());
  s.fd.Reset();
  s.out.clear();
}

}  // namespace kiln::process
