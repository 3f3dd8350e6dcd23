// kiln top: fetch, render, wait a second or a key, again.
#include "core/top/top.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/unique_fd.h"

namespace kiln::top {
namespace {

constexpr int kTimeoutMs = 3000;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

absl::StatusOr<base::UniqueFd> ConnectTo(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (address.size() >= sizeof(sa.sun_path)) {
      return absl::InvalidArgumentError(absl::StrCat("unix socket path too long: ", address));
    }
    std::memcpy(sa.sun_path, address.data(), address.size());
    if (!fd || connect(fd.Get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      return base::ErrnoError(errno, "connect", address);
    }
    return fd;
  }
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(address, ": ", gai_strerror(rc)));
  }
  int err = ECONNREFUSED;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    base::UniqueFd fd(socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd && connect(fd.Get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      freeaddrinfo(res);
      return fd;
    }
    err = errno;
  }
  freeaddrinfo(res);
  return base::ErrnoError(err, "connect", address);
}

struct Totals {
  double requests = 0, exceptions = 0;
  int busy = 0, idle = 0, other = 0;
};

std::string Bytes(double b) {
  if (b >= 1 << 30) return absl::StrFormat("%.1fG", b / (1 << 30));
  if (b >= 1 << 20) return absl::StrFormat("%.1fM", b / (1 << 20));
  if (b >= 1 << 10) return absl::StrFormat("%.1fK", b / (1 << 10));
  return absl::StrFormat("%.0f", b);
}

// The terminal in raw mode while the view runs; restored however it ends.
termios g_saved;
bool g_raw = false;

void RestoreTerminal() {
  if (g_raw) {
    tcsetattr(STDIN_FILENO, TCSANOW, &g_saved);
    g_raw = false;
  }
  static const char kLeave[] = "\x1b[?25h\x1b[?1049l";
  (void)!write(STDOUT_FILENO, kLeave, sizeof(kLeave) - 1);
}

void OnSignal(int) {
  RestoreTerminal();
  _exit(0);
}

}  // namespace

absl::StatusOr<JsonValue> FetchStats(const std::string& address) {
  const bool http = address.rfind("http://", 0) == 0;
  std::string target = http ? address.substr(7) : address;
  if (http) target = target.substr(0, target.find('/'));
  auto fd = ConnectTo(target);
  if (!fd.ok()) return fd.status();
  if (http) {
    std::string req = absl::StrCat("GET / HTTP/1.0\r\nHost: ", target, "\r\n\r\n");
    if (send(fd->Get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      return base::ErrnoError(errno, "send", address);
    }
  }
  std::string data;
  const int64_t deadline = NowMs() + kTimeoutMs;
  char buf[65536];
  for (;;) {
    pollfd p{fd->Get(), POLLIN, 0};
    int left = static_cast<int>(deadline - NowMs());
    if (left <= 0 || poll(&p, 1, left) <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(address, ": no complete stats document within 3s (an HTTP stats "
                                "address is read with http://HOST:PORT)"));
    }
    ssize_t n = read(fd->Get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(errno, "read", address);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  if (data.rfind("HTTP/", 0) == 0) {
    size_t end = data.find("\r\n\r\n");
    data = end == std::string::npos ? std::string() : data.substr(end + 4);
  }
  return ParseJson(data);
}

std::string RenderFrame(const std::string& address, const JsonValue& now, const JsonValue* before,
                        double seconds) {
  Totals t;
  const JsonValue* workers = now.Find("workers");
  const JsonValue* old_workers = before != nullptr ? before->Find("workers") : nullptr;
  std::string rows;
  double total_rps = 0;
  if (workers != nullptr) {
    for (size_t i = 0; i < workers->items.size(); ++i) {
      const JsonValue& w = workers->items[i];
      const double req = w.Num("requests");
      double rps = 0;
      if (old_workers != nullptr && i < old_workers->items.size() && seconds > 0 &&
          old_workers->items[i].Num("pid") == w.Num("pid")) {
        rps = std::max(0.0, req - old_workers->items[i].Num("requests")) / seconds;
      }
      total_rps += rps;
      t.requests += req;
      t.exceptions += w.Num("exceptions");
      const std::string status = w.Str("status");
      if (status == "busy") {
        ++t.busy;
      } else if (status == "idle") {
        ++t.idle;
      } else {
        ++t.other;
      }
      rows += absl::StrFormat("%4.0f %8.0f %-6s %10.0f %8.1f %9.2f %8s %7.0f %6.0f %9s\n",
                              w.Num("id"), w.Num("pid"), status, req, rps, w.Num("avg_rt") / 1000,
                              Bytes(w.Num("rss")), w.Num("respawn_count"), w.Num("exceptions"),
                              Bytes(w.Num("tx")));
    }
  }
  double queue = 0, max_queue = 0;
  if (const JsonValue* sockets = now.Find("sockets"); sockets != nullptr) {
    for (const JsonValue& s : sockets->items) {
      queue += s.Num("queue");
      max_queue += s.Num("max_queue");
    }
  }
  std::string out = absl::StrFormat("kiln top - %s - version %s - master pid %.0f\n", address,
                                    now.Str("version"), now.Num("pid"));
  out += absl::StrFormat(
      "requests: %.0f  req/s: %.1f  exceptions: %.0f  workers: %d busy, %d idle, %d other\n",
      t.requests, total_rps, t.exceptions, t.busy, t.idle, t.other);
  out += absl::StrFormat("listen queue: %.0f/%.0f  listen queue errors: %.0f\n\n", queue,
                         max_queue, now.Num("listen_queue_errors"));
  out += absl::StrFormat("%4s %8s %-6s %10s %8s %9s %8s %7s %6s %9s\n", "WID", "PID", "STATUS",
                         "REQ", "REQ/S", "AVG(ms)", "RSS", "RESPAWN", "EXC", "TX");
  out += rows;
  out += "\n(q quits)\n";
  return out;
}

int RunTop(const std::vector<std::string>& args) {
  std::string address;
  bool once = false;
  for (const std::string& a : args) {
    if (a == "--once") {
      once = true;
    } else if (address.empty()) {
      address = a;
    } else {
      std::fprintf(stderr, "kiln top: unexpected argument `%s`\n", a.c_str());
      return 2;
    }
  }
  if (address.empty()) {
    std::fprintf(stderr,
                 "usage: kiln top [--once] ADDR   (ADDR: the `stats` address, host:port or a unix "
                 "socket path; http://host:port for a stats-http address)\n");
    return 2;
  }
  if (once) {
    auto doc = FetchStats(address);
    if (!doc.ok()) {
      std::fprintf(stderr, "kiln top: %s\n", std::string(doc.status().message()).c_str());
      return 1;
    }
    std::fputs(RenderFrame(address, *doc, nullptr, 0).c_str(), stdout);
    return 0;
  }
  const bool tty = isatty(STDIN_FILENO) != 0;
  if (tty && tcgetattr(STDIN_FILENO, &g_saved) == 0) {
    termios raw = g_saved;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    g_raw = true;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGHUP, OnSignal);
  std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // the alternate screen, no cursor
  std::optional<JsonValue> before;
  int64_t before_ms = 0;
  bool keys = true;  // false once stdin is closed: refresh until a signal
  for (;;) {
    const int64_t start = NowMs();
    auto doc = FetchStats(address);
    std::string frame;
    if (doc.ok()) {
      frame = RenderFrame(address, *doc, before ? &*before : nullptr,
                          static_cast<double>(start - before_ms) / 1000.0);
      before = std::move(*doc);
      before_ms = start;
    } else {
      frame = absl::StrFormat("kiln top - %s\n\n%s\n\n(retrying every second; q quits)\n",
                              address, doc.status().message());
    }
    std::string screen = "\x1b[H\x1b[2J";
    for (char c : frame) {
      if (c == '\n') screen += "\x1b[K\r";  // raw mode: carriage returns are ours to send
      screen += c;
    }
    std::fputs(screen.c_str(), stdout);
    std::fflush(stdout);
    // Wait out the second, or a key.
    for (int64_t left = 1000 - (NowMs() - start); left > 0; left = 1000 - (NowMs() - start)) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (poll(&p, keys ? 1 : 0, static_cast<int>(left)) <= 0) continue;
      char c = 0;
      ssize_t n = read(STDIN_FILENO, &c, 1);
      if (n <= 0 && !tty) {
        keys = false;
        continue;
      }
      if (n == 1 && (c == 'q' || c == 'Q')) {
        RestoreTerminal();
        return 0;
      }
    }
  }
}

}  // namespace kiln::top
