// KilnProcess, TempDir and the test clients.
#include "tests/lib/kiln_process.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "core/protocol/chunked_decoder.h"

namespace kiln::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/kt-XXXXXX";
  if (mkdtemp(tmpl) != nullptr) {
    path_ = tmpl;
    chmod(path_.c_str(), 0755);  // an unprivileged worker must reach sockets inside
  }
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    std::error_code ec;  // best effort: a leftover temp dir is not a test failure
    std::filesystem::remove_all(path_, ec);
  }
}

std::string TempDir::Write(std::string_view name, std::string_view content) const {
  std::string p = File(name);
  std::error_code ec;  // a name with directories ("conf.d/a.ini") gets them
  std::filesystem::create_directories(std::filesystem::path(p).parent_path(), ec);
  WriteFile(p, content);
  return p;
}

void TempDir::WriteFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string TempDir::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MissingTool(std::string_view path, std::string_view package) {
  std::string p(path);
  if (access(p.c_str(), X_OK) == 0) return "";
  return p + " is missing: this test needs it (install the Debian package `" +
         std::string(package) + "`, as `./dev deps` does)";
}

bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0) {
    return false;
  }
  std::string stat = TempDir::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

void SetUpServerChild(const char* log_path) {
  setpgid(0, 0);
  int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    dup2(devnull, 0);
  }
}

std::string KilnBinary() {
  if (const char* bin = std::getenv("KILN_BIN"); bin != nullptr && bin[0] != '\0') {
    return bin;
  }
  if (const char* dir = std::getenv("KILN_BINARY_DIR"); dir != nullptr && dir[0] != '\0') {
    return std::string(dir) + "/core/kiln";
  }
  // Run by hand or without the environment: the build tree that holds this test binary.
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string dir = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  while (!dir.empty()) {
    dir = dir.substr(0, dir.rfind('/'));
    std::string candidate = dir + "/core/kiln";
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "kiln";
}

std::string PluginDir() {
  const char* dir = std::getenv("KILN_PLUGIN_BUILD_DIR");
  return dir != nullptr ? dir : "";
}

std::string SourceDir() {
  const char* dir = std::getenv("KILN_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

KilnProcess::KilnProcess(std::vector<std::string> args, std::string log_path)
    : args_(std::move(args)), log_path_(std::move(log_path)) {}

KilnProcess::~KilnProcess() {
  if (pid_ <= 0 || exited_) {
    return;
  }
  kill(pid_, SIGTERM);
  if (!WaitExit(absl::Seconds(5))) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    WaitExit(absl::Seconds(5));
  }
}

bool KilnProcess::Start() {
  std::string bin = KilnBinary();
  std::vector<std::string> argv = {bin};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = fork();
  if (pid_ < 0) {
    return false;
  }
  if (pid_ == 0) {
    SetUpServerChild(log_path_.c_str());
    for (const auto& [name, value] : env_) {
      setenv(name.c_str(), value.c_str(), 1);
    }
    if (!listen_fds_.empty()) {
      // Move the fds out of the way first, then into 3.. as systemd lays them out.
      std::vector<int> moved;
      for (int lfd : listen_fds_) {
        moved.push_back(fcntl(lfd, F_DUPFD, 100));
      }
      for (size_t i = 0; i < moved.size(); ++i) {
        dup2(moved[i], 3 + static_cast<int>(i));
      }
      setenv("LISTEN_FDS", std::to_string(moved.size()).c_str(), 1);
      setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    }
    std::vector<char*> cargv;
    for (std::string& a : argv) {
      cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    execv(bin.c_str(), cargv.data());
    _exit(127);
  }
  return true;
}

std::string KilnProcess::Log() const { return TempDir::ReadFile(log_path_); }

bool KilnProcess::WaitForLog(std::string_view needle, absl::Duration timeout, int count) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string log = Log();
    int seen = 0;
    for (size_t pos = log.find(needle); pos != std::string::npos; pos = log.find(needle, pos + 1)) {
      ++seen;
    }
    if (seen >= count) {
      return true;
    }
    if (exited_ || (pid_ > 0 && waitpid(pid_, &status_, WNOHANG) == pid_)) {
      exited_ = true;
      return Log().find(needle) != std::string::npos && count <= 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void KilnProcess::Signal(int sig) const {
  if (pid_ > 0 && !exited_) {
    kill(pid_, sig);
  }
}

std::optional<int> KilnProcess::WaitExit(absl::Duration timeout) {
  if (exited_) {
    return status_;
  }
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

std::map<int, pid_t> KilnProcess::WorkerPids() const {
  std::map<int, pid_t> out;
  std::string log = Log();
  constexpr std::string_view kTag = "spawned kiln worker ";
  for (size_t pos = log.find(kTag); pos != std::string::npos; pos = log.find(kTag, pos + 1)) {
    // Only a whole line: the log is read while kiln writes it, and a pid cut short ("12" of
    // "12345") would send a test's signal to some other process.
    size_t eol = log.find('\n', pos);
    if (eol == std::string::npos) {
      break;
    }
    int id = 0;
    int pid = 0;
    char close = 0;
    if (std::sscanf(log.substr(pos + kTag.size(), eol - pos - kTag.size()).c_str(),
                    "%d (pid: %d%c", &id, &pid, &close) == 3 &&
        (close == ',' || close == ')')) {
      out[id] = pid;
    }
  }
  return out;
}

absl::StatusOr<int> Connect(std::string_view address) {
  std::string addr(address);
  if (!addr.empty() && addr[0] == '/') {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, addr.c_str(), sizeof(sun.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
      int err = errno;
      close(fd);
      return absl::UnavailableError(absl::StrFormat("connect %s: %s", addr, strerror(err)));
    }
    return fd;
  }
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("address is neither a path nor host:port: " + addr);
  }
  std::string host = addr.substr(0, colon);
  std::string port = addr.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::InvalidArgumentError("cannot resolve " + addr);
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  int err = errno;
  freeaddrinfo(res);
  if (rc != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrFormat("connect %s: %s", addr, strerror(err)));
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReadAll(int fd, absl::Duration idle, int* error) {
  const timeval tv = absl::ToTimeval(idle);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) got.append(buf, static_cast<size_t>(n));
  if (n < 0 && error != nullptr) *error = errno;
  close(fd);
  return got;
}

std::string RawExchange(std::string_view address, std::string_view request, absl::Duration idle) {
  absl::StatusOr<int> fd = Connect(address);
  if (!fd.ok()) return "";
  if (!SendAll(*fd, request)) {
    close(*fd);
    return "";
  }
  return ReadAll(*fd, idle);
}

namespace {

// The body of a chunked response, decoded by the core's own decoder: a test client that
// accepted what the server's decoder rejects (or the reverse) would hide a framing bug.
absl::StatusOr<std::string> Dechunk(std::string_view in) {
  protocol::ChunkedDecoder decoder;
  std::string out(in.size(), '\0');
  protocol::ChunkedDecoder::Result r = decoder.Decode(in.data(), in.size(), out.data(), out.size());
  if (r.status == protocol::ParseStatus::kError) {
    return absl::DataLossError("bad chunked body: " + r.message);
  }
  if (r.status != protocol::ParseStatus::kComplete) {
    return absl::DataLossError(
        absl::StrFormat("chunked body ends before its last chunk (%d bytes)", in.size()));
  }
  out.resize(r.produced);
  return out;
}

}  // namespace

std::string HeaderOf(const Response& r, std::string_view name) {
  const std::string wanted(name);
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(r.head, "\r\n"))) {
    size_t colon = line.find(':');
    if (colon != std::string::npos && absl::EqualsIgnoreCase(line.substr(0, colon), wanted)) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

absl::StatusOr<Response> Exchange(std::string_view address, std::string_view request,
                                  absl::Duration timeout) {
  auto fd = Connect(address);
  if (!fd.ok()) {
    return fd.status();
  }
  // Sends and reads interleaved, as a real client does, so a server echoing a large body
  // never blocks on a client that is still sending.
  size_t off = 0;
  std::string data;
  absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  for (;;) {
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) {
      close(*fd);
      return absl::DeadlineExceededError(
          absl::StrFormat("no complete response in time (%d bytes so far)", data.size()));
    }
    pollfd p{*fd, static_cast<short>(POLLIN | (off < request.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, left) <= 0) {
      continue;
    }
    if ((p.revents & POLLOUT) != 0) {
      ssize_t n = send(*fd, request.data() + off, request.size() - off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = recv(*fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      data.append(buf, static_cast<size_t>(n));
    }
  }
  close(*fd);
  size_t end = data.find("\r\n\r\n");
  if (data.empty() || end == std::string::npos) {
    return absl::UnavailableError(absl::StrFormat("incomplete response (%d bytes)", data.size()));
  }
  Response r;
  r.head = data.substr(0, end);
  r.body = data.substr(end + 4);
  size_t sp = r.head.find(' ');
  if (sp == std::string::npos || !absl::SimpleAtoi(r.head.substr(sp + 1, 3), &r.status)) {
    return absl::UnavailableError("malformed status line: " + r.head.substr(0, 40));
  }
  // An empty chunked body is the answer to HEAD (or a 304): nothing to decode.
  r.chunked = absl::EqualsIgnoreCase(HeaderOf(r, "Transfer-Encoding"), "chunked");
  if (r.chunked && !r.body.empty()) {
    absl::StatusOr<std::string> body = Dechunk(r.body);
    if (!body.ok()) {
      return body.status();
    }
    r.body = *std::move(body);
  }
  return r;
}

void AppendUwsgiVar(std::string* out, std::string_view k, std::string_view v) {
  out->push_back(static_cast<char>(k.size() & 0xff));
  out->push_back(static_cast<char>(k.size() >> 8));
  out->append(k);
  out->push_back(static_cast<char>(v.size() & 0xff));
  out->push_back(static_cast<char>(v.size() >> 8));
  out->append(v);
}

absl::StatusOr<Response> HttpRequest(std::string_view address, std::string_view method,
                                     std::string_view target, std::string_view body,
                                     std::string_view content_type, absl::Duration timeout) {
  std::string req = absl::StrFormat("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n",
                                    method, target);
  if (!content_type.empty()) {
    absl::StrAppend(&req, "Content-Type: ", std::string(content_type), "\r\n");
  }
  if (!body.empty() || method == "POST") {
    absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&req, "\r\n", std::string(body));
  return Exchange(address, req, timeout);
}

absl::StatusOr<Response> HttpGet(std::string_view address, std::string_view target,
                                 absl::Duration timeout) {
  return HttpRequest(address, "GET", target, "", "", timeout);
}

absl::StatusOr<Response> UwsgiRequest(std::string_view address, uint8_t modifier1,
                                      std::string_view target, absl::Duration timeout) {
  std::string t(target);
  size_t q = t.find('?');
  std::string vars;
  AppendUwsgiVar(&vars, "QUERY_STRING", q == std::string::npos ? "" : t.substr(q + 1));
  AppendUwsgiVar(&vars, "REQUEST_METHOD", "GET");
  AppendUwsgiVar(&vars, "CONTENT_TYPE", "");
  AppendUwsgiVar(&vars, "CONTENT_LENGTH", "");
  AppendUwsgiVar(&vars, "REQUEST_URI", t);
  AppendUwsgiVar(&vars, "PATH_INFO", t.substr(0, q));
  AppendUwsgiVar(&vars, "DOCUMENT_ROOT", "/usr/share/nginx/html");
  AppendUwsgiVar(&vars, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendUwsgiVar(&vars, "REQUEST_SCHEME", "http");
  AppendUwsgiVar(&vars, "REMOTE_ADDR", "127.0.0.1");
  AppendUwsgiVar(&vars, "REMOTE_PORT", "40000");
  AppendUwsgiVar(&vars, "SERVER_PORT", "80");
  AppendUwsgiVar(&vars, "SERVER_NAME", "localhost");
  AppendUwsgiVar(&vars, "HTTP_HOST", "localhost");
  std::string pkt;
  pkt.push_back(static_cast<char>(modifier1));
  pkt.push_back(static_cast<char>(vars.size() & 0xff));
  pkt.push_back(static_cast<char>(vars.size() >> 8));
  pkt.push_back(0);
  pkt += vars;
  return Exchange(address, pkt, timeout);
}

absl::StatusOr<Response> UwsgiGet(std::string_view address, std::string_view target,
                                  absl::Duration timeout) {
  return UwsgiRequest(address, 0, target, timeout);
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0) {
    port = ntohs(sin.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

bool WaitUntilHttpAnswers(std::string_view address, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto r = HttpGet(address, "/", absl::Seconds(2));
    if (r.ok() && r->status == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

bool WaitForFile(const std::string& path, std::string_view needle, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (TempDir::ReadFile(path).find(needle) != std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool Has(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

int CountLines(const std::string& text, std::string_view needle) {
  const absl::string_view want(needle.data(), needle.size());
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, want)) ++n;
  }
  return n;
}

int CountOf(std::string_view text, std::string_view needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool WaitForLines(const std::string& path, std::string_view needle, int count,
                  absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (CountLines(TempDir::ReadFile(path), needle) >= count) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

void Touch(const std::string& path, int ahead_s) {
  std::ofstream(path, std::ios::app).flush();
  struct timespec ts[2];
  clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec += ahead_s;
  ts[1] = ts[0];
  utimensat(AT_FDCWD, path.c_str(), ts, 0);
}

}  // namespace kiln::testing
