// The real kiln binary with http-enable-proxy-protocol on a loopback HTTP socket: PROXY v1 and
// v2 headers sent by hand set REMOTE_ADDR (the built-in /vars page) and the request log's
// address; a connection without a valid header is closed while the next one is served; a
// trickled header is bounded by socket-timeout without holding the worker; proxy-protocol-from
// decides whose header counts; without the option a PROXY line is a bad request; and a real
// nginx stream proxy with `proxy_protocol on;` in front. docs/operations.md, The PROXY protocol.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);
constexpr char kNginx[] = "/usr/sbin/nginx";
constexpr char kStreamModule[] = "/usr/lib/nginx/modules/ngx_stream_module.so";
const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

constexpr char kVarsClose[] =
    "GET /vars HTTP/1.1\r\nHost: kiln.test\r\nConnection: close\r\n\r\n";

// What a raw exchange came to: every byte the server sent before it closed, and whether it
// closed (else the timeout ended the wait).
struct Raw {
  std::string data;
  bool closed = false;
};

// Connects to 127.0.0.1:port from `source` (another loopback address: 127.0.0.2 is one too),
// sends `bytes`, reads until the server closes or `timeout`.
Raw SendRaw(int port, std::string_view bytes, absl::Duration timeout = absl::Seconds(5),
            const char* source = nullptr) {
  Raw out;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      close(fd);
      return out;
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0 ||
      send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
    close(fd);
    return out;
  }
  const absl::Time deadline = absl::Now() + timeout;
  char buf[16384];
  while (true) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {  // EOF, or a reset
      out.closed = true;
      break;
    }
    out.data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string V2Inet6(std::string_view src, uint16_t sport, std::string_view dst, uint16_t dport) {
  std::string h = kSig + std::string("\x21\x21\x00\x24", 4);
  unsigned char a[16];
  inet_pton(AF_INET6, std::string(src).c_str(), a);
  h.append(reinterpret_cast<char*>(a), 16);
  inet_pton(AF_INET6, std::string(dst).c_str(), a);
  h.append(reinterpret_cast<char*>(a), 16);
  for (uint16_t port : {sport, dport}) {
    h.push_back(static_cast<char>(port >> 8));
    h.push_back(static_cast<char>(port & 0xff));
  }
  return h;
}

// kiln with the built-in handler on a loopback TCP http-socket, one worker, one thread.
class Server {
 public:
  explicit Server(std::vector<std::string> extra) : port_(FreeLoopbackPort()) {
    std::vector<std::string> args = {"--master", "--builtin-handler", "--http-socket",
                                     address(), "--processes", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    kiln_ = std::make_unique<KilnProcess>(args, dir_.File("kiln.log"));
  }
  // Started and serving: the ready line is in the log once the worker accepts.
  bool Start() {
    return port_ > 0 && kiln_->Start() &&
           kiln_->WaitForLog("spawned kiln worker 1", kStartup) &&
           WaitForLogOrExit("bound to TCP address");
  }
  bool WaitForLogOrExit(std::string_view needle) { return kiln_->WaitForLog(needle, kStartup); }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  KilnProcess& kiln() { return *kiln_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<KilnProcess> kiln_;
};

// A request through a PROXY header that names `client`: polls until the worker answers (it
// may still be loading), returns the raw answer.
Raw FirstAnswer(Server& s, const std::string& request) {
  Raw r;
  for (int i = 0; i < 150; ++i) {
    r = SendRaw(s.port(), request);
    if (r.data.find("HTTP/1.1 200") == 0) break;
    usleep(100000);
  }
  return r;
}

TEST(ProxyProtocol, V1AndV2HeadersNameTheClient) {
  Server s({"--http-enable-proxy-protocol"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();

  // v1 TCP4: the header's source is REMOTE_ADDR/REMOTE_PORT and the request line's address.
  Raw v1 = FirstAnswer(s, absl::StrCat("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n",
                                       kVarsClose));
  ASSERT_EQ(v1.data.find("HTTP/1.1 200"), 0u) << v1.data << s.kiln().Log();
  EXPECT_NE(v1.data.find("REMOTE_ADDR=192.0.2.10\n"), std::string::npos) << v1.data;
  EXPECT_NE(v1.data.find("REMOTE_PORT=56324\n"), std::string::npos) << v1.data;
  EXPECT_TRUE(s.kiln().WaitForLog("] 192.0.2.10 () {", absl::Seconds(5))) << s.kiln().Log();

  // v2 PROXY over IPv6, with the request in the same segment.
  Raw v2 = SendRaw(s.port(), V2Inet6("2001:db8::7", 4242, "2001:db8::1", 80) +
                                 std::string(kVarsClose));
  ASSERT_EQ(v2.data.find("HTTP/1.1 200"), 0u) << v2.data << s.kiln().Log();
  EXPECT_NE(v2.data.find("REMOTE_ADDR=2001:db8::7\n"), std::string::npos) << v2.data;
  EXPECT_NE(v2.data.find("REMOTE_PORT=4242\n"), std::string::npos) << v2.data;
  EXPECT_TRUE(s.kiln().WaitForLog("] 2001:db8::7 () {", absl::Seconds(5))) << s.kiln().Log();

  // v2 LOCAL (a proxy's health check) and v1 UNKNOWN keep the socket's peer.
  Raw local = SendRaw(s.port(), kSig + std::string("\x20\x00\x00\x00", 4) +
                                    std::string(kVarsClose));
  EXPECT_NE(local.data.find("REMOTE_ADDR=127.0.0.1\n"), std::string::npos) << local.data;
  Raw unknown = SendRaw(s.port(), absl::StrCat("PROXY UNKNOWN\r\n", kVarsClose));
  EXPECT_NE(unknown.data.find("REMOTE_ADDR=127.0.0.1\n"), std::string::npos) << unknown.data;

  // The header comes once per connection: a keep-alive connection's next request keeps it.
  Raw keepalive = SendRaw(
      s.port(), absl::StrCat("PROXY TCP4 203.0.113.5 198.51.100.1 1000 443\r\n",
                             "GET /vars HTTP/1.1\r\nHost: kiln.test\r\n\r\n", kVarsClose));
  const size_t first = keepalive.data.find("REMOTE_ADDR=203.0.113.5\n");
  ASSERT_NE(first, std::string::npos) << keepalive.data;
  EXPECT_NE(keepalive.data.find("REMOTE_ADDR=203.0.113.5\n", first + 1), std::string::npos)
      << keepalive.data;
}

TEST(ProxyProtocol, ABadHeaderClosesThatConnectionAndTheNextIsServed) {
  // The core spelling of the option, as uWSGI's `enable-proxy-protocol`.
  Server s({"--enable-proxy-protocol", "--socket-timeout", "1"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  ASSERT_EQ(FirstAnswer(s, absl::StrCat("PROXY UNKNOWN\r\n", kVarsClose)).data.find("HTTP/1.1 200"),
            0u)
      << s.kiln().Log();

  // A plain request, a malformed line, a v2 header of an unknown version: each is closed at
  // once, without an answer (not after a timeout).
  for (const std::string& bad : {std::string(kVarsClose),
                                 absl::StrCat("PROXY TCP4 192.0.2.10 nowhere 1 2\r\n", kVarsClose),
                                 kSig + std::string("\x31\x11\x00\x0c", 4) +
                                     std::string(12, '\1') + std::string(kVarsClose)}) {
    const absl::Time start = absl::Now();
    Raw r = SendRaw(s.port(), bad);
    EXPECT_TRUE(r.closed) << bad;
    EXPECT_EQ(r.data, "") << bad;
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(900)) << bad;
    Raw good = SendRaw(s.port(), absl::StrCat("PROXY TCP4 192.0.2.20 198.51.100.1 2000 80\r\n",
                                              kVarsClose));
    EXPECT_NE(good.data.find("REMOTE_ADDR=192.0.2.20\n"), std::string::npos) << good.data;
  }
  EXPECT_TRUE(s.kiln().WaitForLog("http: no PROXY header from 127.0.0.1:", absl::Seconds(5)))
      << s.kiln().Log();
  EXPECT_TRUE(s.kiln().WaitForLog("connection closed", absl::Seconds(5))) << s.kiln().Log();

  // A header trickled and never finished: closed after socket-timeout (1 s), while the one
  // worker thread serves others meanwhile.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(s.port()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  ASSERT_EQ(send(fd, "PROXY TCP4 192.0.2", 18, MSG_NOSIGNAL), 18);
  const absl::Time start = absl::Now();
  Raw meanwhile = SendRaw(s.port(), absl::StrCat("PROXY TCP4 192.0.2.30 198.51.100.1 3000 80\r\n",
                                                 kVarsClose));
  EXPECT_NE(meanwhile.data.find("REMOTE_ADDR=192.0.2.30\n"), std::string::npos);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(800));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  char byte;
  EXPECT_LE(recv(fd, &byte, 1, 0), 0);  // closed, nothing sent
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(700));
  close(fd);
  EXPECT_TRUE(s.kiln().WaitForLog("sent no complete PROXY header within 1s; connection closed",
                                  absl::Seconds(5)))
      << s.kiln().Log();
}

TEST(ProxyProtocol, WithoutTheOptionAProxyLineIsABadRequest) {
  Server s({});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(s.address(), kStartup)) << s.kiln().Log();
  Raw r = SendRaw(s.port(), absl::StrCat("PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n",
                                         kVarsClose));
  EXPECT_EQ(r.data.find("HTTP/1.1 400"), 0u) << r.data;
  EXPECT_EQ(r.data.find("REMOTE_ADDR="), std::string::npos) << r.data;
}

TEST(ProxyProtocol, OnlyListedPeersSendTheHeader) {
  // 127.0.0.1 is not in the list: its connections are plain HTTP, a PROXY line from it a bad
  // request, so a client that reaches kiln directly cannot claim another address.
  Server outside({"--http-enable-proxy-protocol", "--proxy-protocol-from",
                  "10.0.0.0/8, 2001:db8::/32"});
  ASSERT_TRUE(outside.Start()) << outside.kiln().Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(outside.address(), kStartup)) << outside.kiln().Log();
  Raw plain = SendRaw(outside.port(), kVarsClose);
  EXPECT_NE(plain.data.find("REMOTE_ADDR=127.0.0.1\n"), std::string::npos) << plain.data;
  Raw forged = SendRaw(outside.port(),
                       absl::StrCat("PROXY TCP4 192.0.2.10 198.51.100.1 1 2\r\n", kVarsClose));
  EXPECT_EQ(forged.data.find("HTTP/1.1 400"), 0u) << forged.data;

  // Listed (the whole loopback range): the header is required and honoured.
  Server inside({"--http-enable-proxy-protocol", "--proxy-protocol-from", "127.0.0.0/8"});
  ASSERT_TRUE(inside.Start()) << inside.kiln().Log();
  Raw honoured = FirstAnswer(
      inside, absl::StrCat("PROXY TCP4 192.0.2.10 198.51.100.1 1 2\r\n", kVarsClose));
  EXPECT_NE(honoured.data.find("REMOTE_ADDR=192.0.2.10\n"), std::string::npos)
      << honoured.data << inside.kiln().Log();
}

TEST(ProxyProtocol, AnInvalidRangeStopsTheStart) {
  TempDir dir;
  KilnProcess kiln({"--builtin-handler", "--http-socket", "127.0.0.1:0",
                    "--http-enable-proxy-protocol", "--proxy-protocol-from", "10.0.0/8"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  std::optional<int> status = kiln.WaitExit(absl::Seconds(15));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_NE(*status, 0);
  EXPECT_NE(kiln.Log().find("option `proxy-protocol-from`: `10.0.0/8` is not an IP address"),
            std::string::npos)
      << kiln.Log();
}

// nginx's stream module in front, `proxy_protocol on;`: the client connects from 127.0.0.2,
// nginx connects to kiln from 127.0.0.1, so REMOTE_ADDR=127.0.0.2 can only come from the
// header nginx wrote.
TEST(ProxyProtocol, BehindNginxStreamProxyProtocol) {
  ASSERT_EQ(MissingTool(kNginx, "nginx-light"), "");
  ASSERT_EQ(access(kStreamModule, R_OK), 0) << kStreamModule
                                            << " is missing: install libnginx-mod-stream";
  Server s({"--http-enable-proxy-protocol", "--proxy-protocol-from", "127.0.0.1"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  const TempDir& dir = s.dir();
  const int front_port = FreeLoopbackPort();
  ASSERT_GT(front_port, 0);
  const std::string conf = dir.Write(
      "nginx.conf",
      absl::StrFormat(R"(load_module %s;
user nobody nogroup;
worker_processes 1;
error_log %s/nginx-error.log;
events { worker_connections 64; }
stream {
  server {
    listen 127.0.0.1:%d;
    proxy_pass 127.0.0.1:%d;
    proxy_protocol on;
  }
}
)",
                      kStreamModule, dir.path(), front_port, s.port()));
  const std::string pid_directive = absl::StrFormat("pid %s/nginx.pid; daemon off;", dir.path());
  pid_t nginx = fork();
  ASSERT_GE(nginx, 0);
  if (nginx == 0) {
    execl(kNginx, "nginx", "-e", (dir.path() + "/nginx-error.log").c_str(), "-p",
          dir.path().c_str(), "-c", conf.c_str(), "-g", pid_directive.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string front = absl::StrCat("127.0.0.1:", front_port);
  const bool up = WaitUntilHttpAnswers(front, absl::Seconds(10));
  Raw through;
  if (up) through = SendRaw(front_port, kVarsClose, absl::Seconds(5), "127.0.0.2");
  kill(nginx, SIGQUIT);
  for (int i = 0; i < 250 && waitpid(nginx, nullptr, WNOHANG) == 0; ++i) usleep(20000);
  kill(nginx, SIGKILL);
  waitpid(nginx, nullptr, 0);
  ASSERT_TRUE(up) << TempDir::ReadFile(dir.File("nginx-error.log")) << s.kiln().Log();
  EXPECT_EQ(through.data.find("HTTP/1.1 200"), 0u) << through.data << s.kiln().Log();
  EXPECT_NE(through.data.find("REMOTE_ADDR=127.0.0.2\n"), std::string::npos)
      << through.data << s.kiln().Log();
  EXPECT_TRUE(s.kiln().WaitForLog("] 127.0.0.2 () {", absl::Seconds(5))) << s.kiln().Log();
}

}  // namespace
}  // namespace kiln::testing
