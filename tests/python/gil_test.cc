// The GIL and slow clients, with the real kiln binary: the python plugin keeps the GIL across
// host calls that do not wait and gives it up in the host's wait hook (SDK 1.6,
// request_wait_hook) while a call waits for the client. A worker's other thread must go on
// serving while one thread waits on a client that does not read its response, or one whose
// body has not arrived, over HTTP and over uwsgi.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

constexpr size_t kBig = 8 << 20;  // far more than a socket's buffers hold

constexpr char kApp[] = R"PY(
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/big':
        body = b'x' * (8 << 20)
    elif path == '/upload':
        body = b'%d' % len(environ['wsgi.input'].read())
    else:
        body = b'ok'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
)PY";

class GilTest : public ::testing::TestWithParam<const char*> {
 protected:
  // One worker with two threads, socket-timeout 30s: a thread that kept the GIL while it
  // waits would hold the other one for that long.
  void StartKiln() {
    dir_.Write("app.py", kApp);
    sock_ = dir_.File("app.sock");
    kiln_ = std::make_unique<KilnProcess>(
        std::vector<std::string>{std::string("--") + GetParam(), sock_, "--plugin-dir",
                                 PluginDir(), "--plugins", "python", "--master", "--processes",
                                 "1", "--threads", "2", "--socket-timeout", "30", "--chdir",
                                 dir_.path(), "--module", "app:application"},
        dir_.File("kiln.log"));
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    ASSERT_TRUE(kiln_->Start());
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline && !Get("/").ok()) absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(Get("/").ok()) << kiln_->Log();
  }
  void TearDown() override {
    if (kiln_ != nullptr) {
      kiln_->Signal(SIGTERM);
      kiln_->WaitExit(absl::Seconds(20));
    }
  }
  bool Http() const { return std::string(GetParam()) == "http-socket"; }
  absl::StatusOr<Response> Get(std::string_view target) {
    return Http() ? HttpGet(sock_, target, absl::Seconds(10))
                  : UwsgiGet(sock_, target, absl::Seconds(10));
  }
  // The request for `target` on a new connection, sent but not read.
  int Send(std::string_view target, std::string_view body_head = "") {
    absl::StatusOr<int> fd = Connect(sock_);
    EXPECT_TRUE(fd.ok()) << fd.status();
    if (!fd.ok()) return -1;
    int small = 4096;
    (void)setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    std::string req;
    if (Http()) {
      req = std::string(body_head.empty() ? "GET " : "POST ") + std::string(target) +
            " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + std::string(body_head) +
            "\r\n";
    } else {
      std::string vars;
      AppendUwsgiVar(&vars, "REQUEST_METHOD", body_head.empty() ? "GET" : "POST");
      AppendUwsgiVar(&vars, "PATH_INFO", target);
      AppendUwsgiVar(&vars, "REQUEST_URI", target);
      AppendUwsgiVar(&vars, "SERVER_PROTOCOL", "HTTP/1.1");
      if (!body_head.empty()) AppendUwsgiVar(&vars, "CONTENT_LENGTH", "10");
      req = std::string(1, '\0') + static_cast<char>(vars.size() & 0xff) +
            static_cast<char>(vars.size() >> 8) + std::string(1, '\0') + vars;
    }
    EXPECT_TRUE(SendAll(*fd, req));
    return *fd;
  }
  // A request on the other thread is answered at once, not after the first one's wait.
  void ExpectAnotherRequestServedPromptly() {
    const absl::Time start = absl::Now();
    absl::StatusOr<Response> r = Get("/");
    ASSERT_TRUE(r.ok()) << r.status() << kiln_->Log();
    EXPECT_EQ(r->body, "ok");
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }

  TempDir dir_;
  std::string sock_;
  std::unique_ptr<KilnProcess> kiln_;
};

TEST_P(GilTest, AClientThatDoesNotReadItsResponseHoldsNoOtherRequest) {
  StartKiln();
  const int slow = Send("/big");
  ASSERT_GE(slow, 0);
  absl::SleepFor(absl::Milliseconds(300));  // its write now waits for the client to read
  ExpectAnotherRequestServedPromptly();
  const std::string answer = ReadAll(slow);  // the whole response still arrives
  EXPECT_THAT(answer.substr(0, 64), HasSubstr("200"));
  EXPECT_GE(answer.size(), kBig);
}

TEST_P(GilTest, ABodyThatHasNotArrivedHoldsNoOtherRequest) {
  StartKiln();
  const int slow = Send("/upload", Http() ? "Content-Length: 10\r\n" : "x");
  ASSERT_GE(slow, 0);
  absl::SleepFor(absl::Milliseconds(300));  // its body read now waits
  ExpectAnotherRequestServedPromptly();
  ASSERT_TRUE(SendAll(slow, "0123456789"));
  EXPECT_THAT(ReadAll(slow), HasSubstr("\r\n\r\n10"));
}

INSTANTIATE_TEST_SUITE_P(Transports, GilTest, ::testing::Values("http-socket", "socket"));

}  // namespace
}  // namespace kiln::testing
