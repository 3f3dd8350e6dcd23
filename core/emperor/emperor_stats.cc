// The emperor stats document, its metrics and readiness, and the non-blocking server.
#include "core/emperor/emperor_stats.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/errno_status.h"

namespace kiln::emperor {
namespace {

constexpr size_t kMaxClients = 64;
constexpr int64_t kClientTimeoutNs = 5'000'000'000;

void AppendString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      absl::StrAppendFormat(out, "\\u%04x", u);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

// Writes "key": for the members below.
void Key(std::string* out, std::string_view key, bool first = false) {
  if (!first) out->push_back(',');
  AppendString(out, key);
  out->push_back(':');
}

void Num(std::string* out, std::string_view key, int64_t v, bool first = false) {
  Key(out, key, first);
  absl::StrAppend(out, v);
}

void Str(std::string* out, std::string_view key, std::string_view v, bool first = false) {
  Key(out, key, first);
  AppendString(out, v);
}

}  // namespace

std::string EmperorStatsJson(const EmperorStats& s) {
  std::string out = "{";
  Str(&out, "version", s.version, true);
  Num(&out, "pid", s.pid);
  Num(&out, "uid", s.uid);
  Num(&out, "gid", s.gid);
  Str(&out, "cwd", s.cwd);
  Key(&out, "emperor");
  out.push_back('[');
  for (size_t i = 0; i < s.emperor.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendString(&out, s.emperor[i]);
  }
  out.push_back(']');
  Num(&out, "emperor_tyrant", s.tyrant ? 1 : 0);
  Num(&out, "throttle_level", s.throttle_level);
  Key(&out, "vassals");
  out.push_back('[');
  bool first = true;
  for (const VassalStats& v : s.vassals) {
    if (v.pid == 0) continue;  // uWSGI lists running vassals only
    out.append(first ? "{" : ",{");
    first = false;
    Str(&out, "id", v.id, true);
    Num(&out, "pid", v.pid);
    Num(&out, "born", v.born);
    Num(&out, "last_mod", v.last_mod);
    Num(&out, "last_heartbeat", v.last_heartbeat);
    Num(&out, "loyal", v.loyal ? 1 : 0);
    Num(&out, "ready", v.ready ? 1 : 0);
    Num(&out, "accepting", v.accepting ? 1 : 0);
    Num(&out, "last_loyal", v.last_loyal);
    Num(&out, "last_ready", v.last_ready);
    Num(&out, "last_accepting", v.last_accepting);
    Num(&out, "first_run", v.first_run);
    Num(&out, "last_run", v.last_run);
    Num(&out, "cursed", v.cursed);
    Num(&out, "zerg", 0);
    Str(&out, "on_demand", "");
    Num(&out, "uid", v.uid);
    Num(&out, "gid", v.gid);
    Str(&out, "monitor", v.monitor);
    Num(&out, "respawns", v.respawns);
    out.push_back('}');
  }
  out.push_back(']');
  Key(&out, "blacklist");
  out.push_back('[');
  for (size_t i = 0; i < s.blacklist.size(); ++i) {
    const BlacklistStats& b = s.blacklist[i];
    out.append(i > 0 ? ",{" : "{");
    Str(&out, "id", b.id, true);
    Num(&out, "throttle_level", b.throttle_level);
    Num(&out, "attempt", b.attempt);
    Num(&out, "first_attempt", b.first_attempt);
    Num(&out, "last_attempt", b.last_attempt);
    out.push_back('}');
  }
  out.append("]}\n");
  return out;
}

std::string EmperorMetricsText(const EmperorStats& s) {
  struct PerVassal {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const VassalStats&);  // integers up to 2^53 print exactly
  };
  static const PerVassal kPerVassal[] = {
      {"kiln_vassal_up", "gauge", "1 while the vassal's master process runs.",
       [](const VassalStats& v) -> double { return v.pid != 0; }},
      {"kiln_vassal_ready", "gauge",
       "1 while the vassal reports its workers accept (0 while it starts, reloads or stops).",
       [](const VassalStats& v) -> double { return v.ready; }},
      {"kiln_vassal_loyal", "gauge", "1 once the running vassal was ready since it started.",
       [](const VassalStats& v) -> double { return v.loyal; }},
      {"kiln_vassal_respawns_total", "counter",
       "Times the emperor started the vassal again after its master died once ready.",
       [](const VassalStats& v) -> double { return v.respawns; }},
      {"kiln_vassal_blacklisted", "gauge",
       "1 while the vassal is blacklisted: it died before it was ever ready.",
       [](const VassalStats& v) -> double { return v.blacklisted; }},
      {"kiln_vassal_failed_starts", "gauge",
       "Deaths before ready in a row (0 once the vassal was ready).",
       [](const VassalStats& v) -> double { return v.attempt; }},
      {"kiln_vassal_refused", "gauge", "1 while tyrant mode refuses to run the vassal's file.",
       [](const VassalStats& v) -> double { return v.refused; }},
      {"kiln_vassal_start_time_seconds", "gauge",
       "When the vassal's current process started, unix seconds (0: not running).",
       [](const VassalStats& v) -> double { return v.pid != 0 ? v.born : 0; }},
      {"kiln_vassal_last_modified_timestamp_seconds", "gauge",
       "The vassal file's modification time, unix seconds.",
       [](const VassalStats& v) -> double { return v.last_mod; }},
      {"kiln_vassal_throttle_seconds", "gauge",
       "Delay before a blacklisted vassal's next start attempt.",
       [](const VassalStats& v) -> double { return static_cast<double>(v.throttle_ms) / 1000; }},
  };
  std::string out;
  for (const PerVassal& m : kPerVassal) {
    process::PrometheusFamily(&out, m.name, m.type, m.help);
    for (const VassalStats& v : s.vassals) {
      absl::StrAppend(&out, m.name, "{vassal=\"", process::PrometheusLabel(v.id), "\"} ",
                      absl::StrFormat("%.15g", m.value(v)), "\n");
    }
  }
  process::PrometheusFamily(&out, "kiln_emperor_vassals", "gauge",
                            "Vassal files the emperor knows.");
  absl::StrAppend(&out, "kiln_emperor_vassals ", s.vassals.size(), "\n");
  process::PrometheusFamily(&out, "kiln_emperor_blacklisted_vassals", "gauge",
                            "Vassals on the blacklist.");
  absl::StrAppend(&out, "kiln_emperor_blacklisted_vassals ", s.blacklist.size(), "\n");
  process::PrometheusFamily(&out, "kiln_emperor_ready", "gauge",
                            "1 while /ready answers 200: no vassal is still on its way up.");
  absl::StrAppend(&out, "kiln_emperor_ready ", EmperorReadiness(s).ready ? 1 : 0, "\n");
  return out;
}

process::Readiness EmperorReadiness(const EmperorStats& s) {
  if (s.stopping) return process::Readiness{false, "stopping"};
  std::vector<std::string> waiting;
  for (const VassalStats& v : s.vassals) {
    if (v.stopping || v.blacklisted || v.refused) continue;
    if (v.pid == 0 || !v.loyal) waiting.push_back(v.id);
  }
  if (waiting.empty()) return process::Readiness{true, ""};
  return process::Readiness{
      false, absl::StrFormat("%d of %d vassal(s) starting: %s", waiting.size(), s.vassals.size(),
                             absl::StrJoin(waiting, ", "))};
}

absl::Status StatsServer::Open(const std::string& address, bool http) {
  http_ = http;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    sockaddr_un sun{};
    if (address.size() >= sizeof(sun.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("emperor-stats: unix socket path too long: %s", address));
    }
    struct stat st;
    if (lstat(address.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "emperor-stats: %s exists and is not a socket; not replacing it", address));
      }
      unlink(address.c_str());
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, address.data(), address.size());
    base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return base::ErrnoError(errno, "socket", address);
    if (bind(fd.Get(), reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
      return base::ErrnoError(errno, "bind", address);
    }
    unix_path_ = address;
    if (listen(fd.Get(), 64) != 0) return base::ErrnoError(errno, "listen", address);
    listen_ = std::move(fd);
    return absl::OkStatus();
  }
  std::string host = address.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("emperor-stats: `%s` has no valid port", address));
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrFormat("emperor-stats: bad address %s", host));
    }
    len = sizeof(*a6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (host.empty() || host == "0.0.0.0") {
      a4->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "emperor-stats: `%s` is not an IPv4 address (write 127.0.0.1:9191 or [::1]:9191)", host));
    }
    len = sizeof(*a4);
  }
  base::UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return base::ErrnoError(errno, "socket", address);
  int one = 1;
  setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.Get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return base::ErrnoError(errno, "bind", address);
  }
  if (listen(fd.Get(), 64) != 0) return base::ErrnoError(errno, "listen", address);
  listen_ = std::move(fd);
  return absl::OkStatus();
}

void StatsServer::AddPollFds(std::vector<pollfd>* fds) const {
  if (!listen_) return;
  fds->push_back(
      pollfd{listen_.Get(), static_cast<short>(clients_.size() < kMaxClients ? POLLIN : 0), 0});
  for (const Client& c : clients_) {
    fds->push_back(pollfd{c.fd.Get(), static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
  }
}

bool StatsServer::Send(Client& c) {
  ssize_t n =
      send(c.fd.Get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) c.sent += static_cast<size_t>(n);
  if (n < 0 && errno != EAGAIN && errno != EINTR) return false;  // gone
  return c.sent < c.out.size();
}

void StatsServer::OnPoll(const pollfd* fds, int64_t now_ns,
                         const std::function<EmperorStats()>& stats) {
  if (!listen_) return;
  std::optional<EmperorStats> snapshot;  // built once per wakeup, only when needed
  auto current = [&]() -> const EmperorStats& {
    if (!snapshot) snapshot = stats();
    return *snapshot;
  };
  auto answer = [&](Client& c) {
    if (http_) {
      c.out = process::AnswerStatsRequest(
          c.in, process::StatsPages{[&] { return EmperorStatsJson(current()); },
                                    [&] { return EmperorMetricsText(current()); },
                                    [&] { return EmperorReadiness(current()); }});
    } else {
      c.out = EmperorStatsJson(current());  // plain: the document at once, nothing read
    }
    c.writing = true;
    return Send(c);
  };
  // The clients polled, before new ones join.
  std::vector<Client> keep;
  for (size_t i = 0; i < clients_.size(); ++i) {
    Client& c = clients_[i];
    bool alive = true;
    const short ev = fds[1 + i].revents;
    if (c.writing && (ev & (POLLOUT | POLLERR | POLLHUP))) {
      alive = Send(c);
    } else if (!c.writing && ev != 0) {
      if ((ev & (POLLERR | POLLNVAL)) != 0) {
        alive = false;
      } else if (process::ReadStatsRequest(c.fd.Get(), &c.in)) {
        alive = answer(c);
      }
    }
    if (alive && now_ns < c.deadline_ns) keep.push_back(std::move(c));  // else: dropped
  }
  clients_ = std::move(keep);
  if ((fds[0].revents & POLLIN) == 0) return;
  while (clients_.size() < kMaxClients) {
    base::UniqueFd fd(accept4(listen_.Get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    Client c;
    c.fd = std::move(fd);
    c.deadline_ns = now_ns + kClientTimeoutNs;
    if (!http_ && !answer(c)) continue;  // written at once: closed
    clients_.push_back(std::move(c));    // the rest (or the request) when the socket has it
  }
}

void StatsServer::Close() {
  clients_.clear();
  listen_.Reset();
  if (!unix_path_.empty()) {
    unlink(unix_path_.c_str());
    unix_path_.clear();
  }
}

}  // namespace kiln::emperor
