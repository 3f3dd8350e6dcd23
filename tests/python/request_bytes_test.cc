// What a request arrived with must not change while it is served: a Python app reads a chunked
// body in pieces (readline, read(65536)) while it trickles in, and the request log written
// after the body (method, URI, protocol, log-format's %(host) and %(uagent)) must still show
// the head's values, not body bytes that reused the read buffer (docs/design.md "Who owns a
// request's bytes").
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = R"PY(
def application(environ, start_response):
    inp = environ['wsgi.input']
    total = len(inp.readline())
    while True:
        piece = inp.read(65536)
        if not piece:
            break
        total += len(piece)
        total += len(inp.readline())
    body = ('%d %s' % (total, environ['PATH_INFO'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
)PY";

// Lines of text, each ending in a newline, `size` bytes in all: body bytes that leak into a
// log line show up as "body-line" and break the line apart.
std::string BodyPiece(size_t size, int request) {
  std::string s;
  while (s.size() < size) s += absl::StrFormat("body-line %d GET /stolen HTTP/1.0\n", request);
  s.resize(size);
  s.back() = '\n';
  return s;
}

TEST(RequestBytes, LogLinesKeepTheHeadAfterASlowChunkedBodyReadInPieces) {
  TempDir dir;
  dir.Write("app.py", kApp);
  const std::string sock = dir.File("http.sock");
  KilnProcess kiln(
      {"--http-socket", sock, "--plugin-dir", PluginDir(), "--plugins", "python", "--master",
       "--processes", "1", "--chdir", dir.path(), "--module", "app:application", "--log-format",
       "RL method=%(method) uri=%(uri) proto=%(proto) host=%(host) ua=%(uagent)"},
      dir.File("kiln.log"));
  kiln.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitFor200(sock, "/probe", absl::Seconds(30))) << kiln.Log();

  constexpr int kRequests = 24;
  constexpr int kChunks = 5;
  constexpr size_t kChunk = 8192;
  for (int i = 0; i < kRequests; ++i) {
    absl::StatusOr<int> fd = Connect(sock);
    ASSERT_TRUE(fd.ok()) << fd.status();
    // The head arrives alone; the body follows in 8 KiB chunks 10 ms apart, so the app's
    // reads wait for each one in the connection's read buffer.
    const std::string head = absl::StrFormat(
        "POST /upload/%d?q=%d HTTP/1.1\r\nHost: host-%d.example\r\n"
        "User-Agent: kiln-test-agent/%d\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n",
        i, i, i, i);
    ASSERT_TRUE(SendAll(*fd, head));
    for (int c = 0; c < kChunks; ++c) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const std::string piece = BodyPiece(kChunk, i);
      ASSERT_TRUE(SendAll(*fd, absl::StrFormat("%x\r\n%s\r\n", piece.size(), piece)));
    }
    ASSERT_TRUE(SendAll(*fd, "0\r\n\r\n"));
    const std::string answer = ReadAll(*fd);
    EXPECT_THAT(answer, HasSubstr(absl::StrCat("\r\n\r\n", kChunks * kChunk, " /upload/", i)))
        << answer;
  }

  // Every request's line, exactly as its head said, and no line carrying body bytes.
  std::vector<std::string> want;
  for (int i = 0; i < kRequests; ++i) {
    want.push_back(absl::StrFormat(
        "RL method=POST uri=/upload/%d?q=%d proto=HTTP/1.1 host=host-%d.example "
        "ua=kiln-test-agent/%d",
        i, i, i, i));
  }
  std::string log;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    log = kiln.Log();
    if (log.find(want.back()) != std::string::npos || absl::Now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const std::string& line : want) EXPECT_THAT(log, HasSubstr(line + "\n"));
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find("body-line"), std::string::npos) << "a body byte in: " << line;
    if (line.find("uri=/upload/") != std::string::npos) {
      EXPECT_EQ(line.rfind("RL method=POST uri=/upload/", 0), 0u) << line;
    }
  }
  kiln.Signal(SIGTERM);
  kiln.WaitExit(absl::Seconds(20));
}

}  // namespace
}  // namespace kiln::testing
