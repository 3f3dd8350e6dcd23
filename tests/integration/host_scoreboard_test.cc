// The host's scoreboard_worker, seen by a real plugin in a real worker: the test plugin
// tests/plugins/echo_plugin.c answers /scoreboard with what the call returned for the worker
// serving the request.
#include <sys/types.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

struct Stats {
  int status = -1, worker = 0, pid = 0;
  unsigned state = 0;
  unsigned long long requests = 0;
  long long since_us = 0;
};

Stats AskScoreboard(const std::string& sock) {
  absl::StatusOr<Response> r = HttpGet(sock, "/scoreboard");
  EXPECT_TRUE(r.ok()) << r.status();
  Stats s;
  if (r.ok()) {
    EXPECT_EQ(std::sscanf(r->body.c_str(),
                          "status=%d worker=%d pid=%d state=%u requests=%llu since=%lld",
                          &s.status, &s.worker, &s.pid, &s.state, &s.requests, &s.since_us),
              6)
        << r->body;
  }
  return s;
}

TEST(HostScoreboard, ScoreboardWorkerReportsTheWorkerServingTheRequest) {
  const char* bin = std::getenv("KILN_BINARY_DIR");
  ASSERT_NE(bin, nullptr);
  TempDir dir;
  const std::string sock = dir.File("h.sock");
  KilnProcess kiln({"--master", "--processes", "1", "--http-socket", sock, "--plugins",
                    std::string(bin) + "/tests/plugins/echo_plugin.so"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();

  const long long before_us = absl::ToUnixMicros(absl::Now());
  Stats first = AskScoreboard(sock);
  const long long after_us = absl::ToUnixMicros(absl::Now());
  ASSERT_EQ(first.status, 0) << "scoreboard_worker did not answer (KILN_DECLINED is 3)\n"
                             << kiln.Log();
  EXPECT_EQ(first.worker, 1);
  EXPECT_EQ(kiln.WorkerPids()[1], first.pid);
  EXPECT_EQ(first.state, 2u) << "a worker inside a request is KILN_WORKER_BUSY";
  // The request's start in wall-clock time, as the SDK documents it (1 ms of rounding).
  EXPECT_GE(first.since_us, before_us - 1000);
  EXPECT_LE(first.since_us, after_us + 1000);

  // Its request count grows with the requests it finishes.
  Stats second = AskScoreboard(sock);
  EXPECT_EQ(second.pid, first.pid);
  EXPECT_GT(second.requests, first.requests);
}

}  // namespace
}  // namespace kiln::testing
