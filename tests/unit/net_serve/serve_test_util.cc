// Serving-loop test harness (see serve_test_util.h).
#include "tests/unit/net_serve/serve_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/log/logger.h"
#include "core/protocol/chunked_decoder.h"
#include "gtest/gtest.h"

namespace kiln::net::testing {
namespace {

struct Lines {
  std::mutex mu;
  std::vector<std::string> lines;
};

class MemorySink : public log::Sink {
 public:
  explicit MemorySink(Lines* lines) : lines_(lines) {}
  void Write(std::string_view line) override {
    std::lock_guard<std::mutex> lock(lines_->mu);
    std::string s(line);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    lines_->lines.push_back(s);
  }
  std::string Describe() const override { return "memory"; }

 private:
  Lines* lines_;
};

Lines& RequestLines() {
  static Lines* l = new Lines;
  return *l;
}
Lines& ServerLines() {
  static Lines* l = new Lines;
  return *l;
}

void SetTimeouts(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// Reads one line (through LF) byte by byte, so nothing past it is consumed.
bool ReadLine(int fd, std::string* line) {
  line->clear();
  char c;
  while (true) {
    ssize_t n = read(fd, &c, 1);
    if (n <= 0) return false;
    line->push_back(c);
    if (c == '\n') return true;
  }
}

// Decodes a chunked body with the core's decoder, taking from the socket only the bytes that
// belong to it (peek, decode, then consume what the decoder used), so a pipelined response
// after it stays unread. A malformed or truncated body is a test failure.
void ReadChunkedBody(int fd, std::string* body) {
  protocol::ChunkedDecoder decoder;
  char in[16384];
  char out[16384];
  for (int waits = 0; !decoder.done();) {
    ssize_t n = recv(fd, in, sizeof(in), MSG_PEEK);
    if (n <= 0) {
      ADD_FAILURE() << "the connection ended inside a chunked body";
      return;
    }
    protocol::ChunkedDecoder::Result r = decoder.Decode(in, static_cast<size_t>(n), out, sizeof(out));
    body->append(out, r.produced);
    if (r.status == protocol::ParseStatus::kError) {
      ADD_FAILURE() << "bad chunked body: " << r.message;
      return;
    }
    if (r.consumed > 0) {
      (void)recv(fd, in, r.consumed, 0);  // what the decoder used; the peek showed it is there
    } else if (r.produced == 0) {
      if (++waits > 5000) {  // 5 s, the socket's own read timeout
        ADD_FAILURE() << "a chunked body stalled inside a chunk line";
        return;
      }
      usleep(1000);  // half a chunk line: wait for the rest
    }
  }
}

bool ReadExactly(int fd, size_t len, std::string* out) {
  while (len > 0) {
    char buf[65536];
    ssize_t n = read(fd, buf, std::min(len, sizeof(buf)));
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::EqualsIgnoreCase(line.substr(0, colon), base::Av(name))) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

ServeHarness::ServeHarness() {
  char tmpl[] = "/tmp/knsXXXXXX";
  char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  dir_ = d == nullptr ? "/tmp" : d;
  std::vector<std::unique_ptr<log::Sink>> req;
  req.push_back(std::make_unique<MemorySink>(&RequestLines()));
  log::SetRequestSinks(std::move(req));
  std::vector<std::unique_ptr<log::Sink>> srv;
  srv.push_back(std::make_unique<MemorySink>(&ServerLines()));
  log::SetServerSinks(std::move(srv));
  {
    std::lock_guard<std::mutex> l1(RequestLines().mu);
    RequestLines().lines.clear();
  }
  std::lock_guard<std::mutex> l2(ServerLines().mu);
  ServerLines().lines.clear();
}

ServeHarness::~ServeHarness() {
  Stop(false);
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
  std::string cmd = "rm -rf '" + dir_ + "'";
  if (absl::StartsWith(dir_, "/tmp/kns")) (void)!system(cmd.c_str());
}

void ServeHarness::Start(ServeOptions options, plugin::Handler* handler) {
  http_fd_.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(http_fd_.Get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  ASSERT_EQ(listen(http_fd_.Get(), 128), 0);
  socklen_t len = sizeof(in);
  ASSERT_EQ(getsockname(http_fd_.Get(), reinterpret_cast<sockaddr*>(&in), &len), 0);
  port_ = ntohs(in.sin_port);

  unix_path_ = dir_ + "/u.sock";
  uwsgi_fd_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, unix_path_.c_str(), sizeof(un.sun_path) - 1);
  ASSERT_EQ(bind(uwsgi_fd_.Get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  ASSERT_EQ(listen(uwsgi_fd_.Get(), 128), 0);

  std::vector<ListenSocket> sockets = {{http_fd_.Get(), Protocol::kHttp, "127.0.0.1:0"},
                                       {uwsgi_fd_.Get(), Protocol::kUwsgi, unix_path_}};
  if (handler == nullptr) options.builtin_handler = true;
  loop_ = std::make_unique<ServeLoop>(std::move(options), std::move(sockets), handler, nullptr, 1);
  thread_ = std::thread([this] { loop_->Run(); });
}

void AllVarsHandler::Handle(plugin::RequestContext& request) {
  std::string body;
  request.ForEachVar([&](std::string_view k, std::string_view v) {
    body.append(k).append("=").append(v).append("\n");
  });
  if (request.StartResponse(200, "", {{"Content-Type", "text/plain"}}).ok()) {
    (void)request.WriteBody(body);
  }
}

void ServeHarness::Stop(bool graceful) {
  if (loop_ != nullptr && thread_.joinable()) {
    loop_->Stop(graceful);
    thread_.join();
  }
}

base::UniqueFd ServeHarness::ConnectHttp() {
  base::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons(static_cast<uint16_t>(port_));
  EXPECT_EQ(connect(fd.Get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  SetTimeouts(fd.Get());
  return fd;
}

base::UniqueFd ServeHarness::ConnectUwsgi() { return ConnectUnix(unix_path_); }

base::UniqueFd ConnectUnix(const std::string& path) {
  base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, path.c_str(), sizeof(un.sun_path) - 1);
  EXPECT_EQ(connect(fd.Get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0) << path;
  SetTimeouts(fd.Get());
  return fd;
}

std::vector<std::string> ServeHarness::LogLines() {
  std::lock_guard<std::mutex> lock(RequestLines().mu);
  return RequestLines().lines;
}

std::vector<std::string> ServeHarness::ServerLogLines() {
  std::lock_guard<std::mutex> lock(ServerLines().mu);
  return ServerLines().lines;
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

HttpResponse ReadResponse(int fd, bool head_request) {
  HttpResponse r;
  std::string line;
  if (!ReadLine(fd, &line)) return r;
  r.head = line;
  if (line.size() >= 12) (void)absl::SimpleAtoi(absl::string_view(line).substr(9, 3), &r.status);
  while (ReadLine(fd, &line) && line != "\r\n") r.head += line;
  if (head_request || r.status == 204 || r.status == 304 || r.status < 200) return r;
  const std::string te = r.Header("Transfer-Encoding");
  const std::string cl = r.Header("Content-Length");
  if (absl::EqualsIgnoreCase(te, "chunked")) {
    r.chunked = true;
    ReadChunkedBody(fd, &r.body);
  } else if (!cl.empty()) {
    ReadExactly(fd, std::strtoul(cl.c_str(), nullptr, 10), &r.body);
  } else {
    r.body = ReadToEof(fd);
    r.closed = true;
  }
  return r;
}

HttpResponse Get(ServeHarness& h, std::string_view path) {
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), absl::StrCat("GET ", base::Av(path), " HTTP/1.1\r\nHost: t\r\n\r\n"));
  return ReadResponse(fd.Get());
}

}  // namespace kiln::net::testing
