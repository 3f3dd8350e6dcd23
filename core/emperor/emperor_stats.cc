// The emperor stats document and its non-blocking server.
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

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
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
  for (size_t i = 0; i < s.vassals.size(); ++i) {
    const VassalStats& v = s.vassals[i];
    out.append(i > 0 ? ",{" : "{");
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

absl::Status StatsServer::Open(const std::string& address) {
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
          "emperor-stats: `%s` is not an IPv4 address (write 127.0.0.1:9191 or [::1]:9191)",
          host));
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
  fds->push_back(pollfd{listen_.Get(), static_cast<short>(clients_.size() < kMaxClients ? POLLIN : 0), 0});
  for (const Client& c : clients_) {
    fds->push_back(pollfd{c.fd.Get(), POLLOUT, 0});
  }
}

void StatsServer::Accept(int64_t now_ns, const std::string& doc) {
  while (clients_.size() < kMaxClients) {
    base::UniqueFd fd(accept4(listen_.Get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    Client c{std::move(fd), doc, 0, now_ns + kClientTimeoutNs};
    ssize_t n = send(c.fd.Get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) c.sent = static_cast<size_t>(n);
    if (c.sent < c.out.size() && (n >= 0 || errno == EAGAIN)) {
      clients_.push_back(std::move(c));  // the rest when the socket takes it
    }
  }
}

void StatsServer::Flush(const pollfd* fds, int64_t now_ns) {
  size_t polled = clients_.size();
  std::vector<Client> keep;
  for (size_t i = 0; i < polled; ++i) {
    Client& c = clients_[i];
    if (fds[i].revents & (POLLOUT | POLLERR | POLLHUP)) {
      ssize_t n = send(c.fd.Get(), c.out.data() + c.sent, c.out.size() - c.sent,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) c.sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) continue;  // gone: dropped
    }
    if (c.sent < c.out.size() && now_ns < c.deadline_ns) keep.push_back(std::move(c));
  }
  clients_ = std::move(keep);
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
