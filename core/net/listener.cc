// Listen sockets: bind, stale-socket detection, ownership, vacuum.
#include "core/net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/log/logger.h"

namespace kiln::net {
namespace {

// What to change when kiln may not create its socket file: the directory and the user.
std::string UnixBindHint(const Address& a) {
  if (a.kind != AddressKind::kUnix) return "";
  size_t slash = a.path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : a.path.substr(0, slash);
  return absl::StrFormat(
      "kiln runs as uid %d, which may not create a file in %s: put the socket in a directory "
      "that user may write (systemd's RuntimeDirectory= makes /run/NAME for it), or start "
      "kiln as root (it binds before dropping to `uid`)",
      static_cast<int>(geteuid()), dir);
}

socklen_t FillUnix(const Address& a, sockaddr_un* sun) {
  std::memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  if (a.kind == AddressKind::kAbstract) {
    std::memcpy(sun->sun_path + 1, a.path.data(), a.path.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + a.path.size());
  }
  std::memcpy(sun->sun_path, a.path.data(), a.path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.path.size() + 1);
}

// Is something accepting on this unix socket path? A refused connect means a dead file.
bool UnixPathAnswers(const Address& a) {
  base::UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) {
    return false;
  }
  sockaddr_un sun;
  socklen_t len = FillUnix(a, &sun);
  return connect(probe.Get(), reinterpret_cast<sockaddr*>(&sun), len) == 0 || errno == EAGAIN;
}

absl::Status PrepareUnixPath(const Address& a) {
  struct stat st;
  if (lstat(a.path.c_str(), &st) != 0) {
    return absl::OkStatus();  // nothing there
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "cannot bind unix socket %s: the path exists and is not a socket; move it away or "
        "choose another path",
        a.path));
  }
  if (UnixPathAnswers(a)) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "cannot bind unix socket %s: another server is accepting connections on it; stop it "
        "or choose another path",
        a.path));
  }
  if (unlink(a.path.c_str()) != 0 && errno != ENOENT) {
    return base::ErrnoError(errno, "unlink stale socket", a.path);
  }
  return absl::OkStatus();
}

absl::StatusOr<base::UniqueFd> ListenUnix(const Address& a, const ListenOptions& o) {
  if (a.kind == AddressKind::kUnix) {
    if (auto s = PrepareUnixPath(a); !s.ok()) {
      return s;
    }
  }
  base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return base::ErrnoError(errno, "socket", a.ToString());
  }
  sockaddr_un sun;
  socklen_t len = FillUnix(a, &sun);
  if (bind(fd.Get(), reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    int err = errno;
    if (err == EADDRINUSE) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "cannot bind %s: the address is in use by another process", a.ToString()));
    }
    return base::PermissionError(err, "bind", a.ToString(), UnixBindHint(a));
  }
  if (listen(fd.Get(), o.backlog) != 0) {
    return base::ErrnoError(errno, "listen", a.ToString());
  }
  if (auto s = ApplySocketOwnership(a, o); !s.ok()) {
    return s;
  }
  return fd;
}

absl::StatusOr<base::UniqueFd> ListenInet(const Address& a, const ListenOptions& o) {
  addrinfo hints{};
  hints.ai_family = a.kind == AddressKind::kInet6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(a.port);
  int rc = getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot resolve host `%s` of socket address %s: %s", a.host, a.ToString(),
                        gai_strerror(rc)));
  }
  // Prefer the first IPv4 result for a host name (uWSGI binds IPv4 for "host:port").
  addrinfo* pick = res;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == (a.kind == AddressKind::kInet6 ? AF_INET6 : AF_INET)) {
      pick = ai;
      break;
    }
  }
  base::UniqueFd fd(socket(pick->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    int err = errno;
    freeaddrinfo(res);
    return base::ErrnoError(err, "socket", a.ToString());
  }
  int one = 1;
  setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (o.reuse_port && setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int err = errno;
    freeaddrinfo(res);
    return base::ErrnoError(err, "setsockopt(SO_REUSEPORT)", a.ToString());
  }
  if (pick->ai_family == AF_INET6) {
    setsockopt(fd.Get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  int brc = bind(fd.Get(), pick->ai_addr, pick->ai_addrlen);
  int err = errno;
  freeaddrinfo(res);
  if (brc != 0) {
    if (err == EADDRINUSE) {
      return absl::AlreadyExistsError(
          absl::StrFormat("cannot bind %s: the port is in use by another process", a.ToString()));
    }
    if (a.port >= 1024) return base::ErrnoError(err, "bind", a.ToString());
    return base::PermissionError(
        err, "bind", a.ToString(),
        absl::StrFormat("ports below 1024 need root, and kiln runs as uid %d: start it as root "
                        "(with `uid` it drops privileges right after binding), grant it "
                        "CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=), or use a port "
                        "from 1024 up",
                        static_cast<int>(geteuid())));
  }
  if (listen(fd.Get(), o.backlog) != 0) {
    return base::ErrnoError(errno, "listen", a.ToString());
  }
  DeferAccept(fd.Get(), o.defer_accept);
  return fd;
}

}  // namespace

void DeferAccept(int fd, bool on) {
  // Seconds the kernel holds a connection that sent nothing; after that it is accepted anyway
  // and socket-timeout applies to it as to any slow client. 0 turns it off.
  const int seconds = on ? 5 : 0;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds));
}

absl::StatusOr<base::UniqueFd> Listen(const Address& address, const ListenOptions& options) {
  if (address.is_tcp()) {
    return ListenInet(address, options);
  }
  return ListenUnix(address, options);
}

absl::Status ApplySocketOwnership(const Address& a, const ListenOptions& o) {
  if (a.kind != AddressKind::kUnix || (!o.owner_uid && !o.owner_gid && !o.mode)) {
    return absl::OkStatus();
  }
  // kiln runs this as root, in a directory the service user may be able to write. chown(2)
  // and chmod(2) by path would follow a symlink swapped in after bind() and hand another file
  // (say /etc/shadow) to that user. So the path is opened without following a final link, and
  // only the socket kiln itself just bound (a socket owned by kiln's own user) is changed,
  // through that descriptor: the checked inode is the one changed.
  base::UniqueFd node(open(a.path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!node.Valid()) return base::ErrnoError(errno, "open the socket file", a.path);
  struct stat st;
  if (fstat(node.Get(), &st) != 0) return base::ErrnoError(errno, "stat", a.path);
  if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "refusing to change the owner or mode of %s: it is no longer the socket kiln bound "
        "(replaced by %s owned by uid %d)",
        a.path, S_ISLNK(st.st_mode) ? "a symbolic link" : "another file",
        static_cast<int>(st.st_uid)));
  }
  if (o.owner_uid || o.owner_gid) {
    uid_t uid = o.owner_uid ? *o.owner_uid : static_cast<uid_t>(-1);
    gid_t gid = o.owner_gid ? *o.owner_gid : static_cast<gid_t>(-1);
    if (fchownat(node.Get(), "", uid, gid, AT_EMPTY_PATH) != 0) {
      return base::PermissionError(
          errno, "chown-socket", a.path,
          absl::StrFormat("kiln runs as uid %d, and only root may give a file to another user "
                          "or to a group it is not in: start kiln as root (it changes the "
                          "socket before dropping to `uid`), or remove chown-socket",
                          static_cast<int>(geteuid())));
    }
  }
  // fchmod(2) does not take an O_PATH descriptor; its /proc/self/fd link names the same inode.
  if (o.mode && chmod(absl::StrFormat("/proc/self/fd/%d", node.Get()).c_str(), *o.mode) != 0) {
    return base::ErrnoError(errno, "chmod-socket", a.path);
  }
  return absl::OkStatus();
}

absl::StatusOr<Address> BoundAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return base::ErrnoError(errno, "getsockname", absl::StrFormat("fd %d", fd));
  }
  Address a;
  char buf[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    a.kind = AddressKind::kInet;
    a.host = inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    a.port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a.kind = AddressKind::kInet6;
    a.host = inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
    a.port = ntohs(sin6->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    auto* sun = reinterpret_cast<sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n > 0 && sun->sun_path[0] == '\0') {
      a.kind = AddressKind::kAbstract;
      a.path.assign(sun->sun_path + 1, n - 1);
    } else {
      a.kind = AddressKind::kUnix;
      a.path.assign(sun->sun_path, strnlen(sun->sun_path, n));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("fd %d is a socket of unsupported family %d", fd, ss.ss_family));
  }
  return a;
}

bool IsListeningSocket(int fd) {
  int val = 0;
  socklen_t len = sizeof(val);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) != 0) {
    return false;
  }
  int type = 0;
  len = sizeof(type);
  return val != 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

absl::StatusOr<mode_t> ParseSocketMode(std::string_view text) {
  if (text.empty() || text == "true" || text == "1" || text == "yes" || text == "on") {
    return static_cast<mode_t>(0666);
  }
  if (text.size() > 4 || text.find_first_not_of("01234567") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "`%s` is not a file mode: expected octal digits such as 660 or 666 (a bare flag means "
        "666)",
        text));
  }
  mode_t mode = 0;
  for (char c : text) {
    mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
  }
  return mode;
}

bool VacuumUnixSocket(const Address& address, int fd) {
  if (address.kind != AddressKind::kUnix) {
    return false;
  }
  // Only remove the file if it is still ours: another server may have replaced it.
  struct stat path_st;
  if (lstat(address.path.c_str(), &path_st) != 0 || !S_ISSOCK(path_st.st_mode)) {
    return false;
  }
  if (fd >= 0) {
    // The socket must still carry that name (it may have been bound elsewhere after a
    // re-exec that changed the configuration).
    auto bound = BoundAddress(fd);
    if (!bound.ok() || bound->path != address.path) {
      return false;
    }
  }
  if (unlink(address.path.c_str()) == 0) {
    return true;
  }
  // Usually a root-owned directory after the privilege drop: say so instead of leaving the
  // file behind in silence.
  log::Warn("VACUUM: cannot remove unix socket %s: %s (its directory must be writable by the "
            "user kiln runs as)", address.path, base::ErrnoText(errno));
  return false;
}

}  // namespace kiln::net
