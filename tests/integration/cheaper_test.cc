// Cheaper mode on the real kiln binary: the number of workers follows the load up to
// `processes` and back down to `cheaper`, and no request fails on the way.
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/worker_watch.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

using std::chrono::milliseconds;

// Waits until the sampler's latest count is `want`; false after `timeout`.
bool WaitForCount(const ChildSampler& s, int want, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (s.last() == want) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

std::string Samples(const std::vector<int>& v) {
  std::string out;
  for (int n : v) {
    absl::StrAppend(&out, n, " ");
  }
  return out;
}

TEST(KilnCheaper, WorkersFollowTheLoadUpAndDownWithoutAFailedRequest) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini", "[kiln]\nmaster = true\nbuiltin-handler = true\nprocesses = 4\ncheaper = 1\n"
                 "cheaper-overload = 1\nhttp-socket = " + sock + "\n");
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();
  ChildSampler sampler(kiln.pid(), milliseconds(100));
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(sampler.last(), 1) << "cheaper = 1 starts one worker\n" << kiln.Log();

  std::vector<std::unique_ptr<ClientLoop>> load;
  for (int i = 0; i < 6; ++i) {  // more clients than workers: every worker stays busy
    load.push_back(std::make_unique<ClientLoop>(sock, "/sleep?s=0.2"));
  }
  bool up = WaitForCount(sampler, 4, absl::Seconds(10));
  for (auto& c : load) {
    c->Stop();
  }
  EXPECT_TRUE(up) << "samples: " << Samples(sampler.samples()) << "\n" << kiln.Log();
  bool down = WaitForCount(sampler, 1, absl::Seconds(10));
  sampler.Stop();
  EXPECT_TRUE(down) << "samples: " << Samples(sampler.samples()) << "\n" << kiln.Log();
  int ok = 0;
  for (auto& c : load) {
    ok += c->ok();
    EXPECT_EQ(c->failed(), 0) << c->last_error() << "\n" << kiln.Log();
  }
  EXPECT_GT(ok, 10);
  // Each stop was graceful: planned, never a death.
  EXPECT_NE(kiln.Log().find("cheaper: "), std::string::npos);
  EXPECT_EQ(kiln.Log().find("DAMN"), std::string::npos) << kiln.Log();
  // And the server still answers with its one worker.
  auto r = HttpGet(sock, "/echo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(KilnCheaper, BacklogAlgorithmFollowsTheListenQueue) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini", "[kiln]\nmaster = true\nbuiltin-handler = true\nprocesses = 3\ncheaper = 1\n"
                 "cheaper-algo = backlog\ncheaper-overload = 2\nhttp-socket = " + sock + "\n");
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();
  ChildSampler sampler(kiln.pid(), milliseconds(100));
  std::vector<std::unique_ptr<ClientLoop>> load;
  for (int i = 0; i < 8; ++i) {  // one worker, eight clients: the queue holds about seven
    load.push_back(std::make_unique<ClientLoop>(sock, "/sleep?s=0.3"));
  }
  bool up = WaitForCount(sampler, 3, absl::Seconds(10));
  for (auto& c : load) {
    c->Stop();
  }
  EXPECT_TRUE(up) << "samples: " << Samples(sampler.samples()) << "\n" << kiln.Log();
  EXPECT_NE(kiln.Log().find("connection(s) in the listen queue"), std::string::npos);
  EXPECT_TRUE(WaitForCount(sampler, 1, absl::Seconds(10)))
      << "samples: " << Samples(sampler.samples()) << "\n" << kiln.Log();
  for (auto& c : load) {
    EXPECT_EQ(c->failed(), 0) << c->last_error();
  }
}

TEST(KilnCheaper, BadSettingsAreClearErrors) {
  struct Case {
    const char* ini;
    const char* message;
  } cases[] = {
      {"master = true\nprocesses = 2\ncheaper = 2\n", "must be lower than processes"},
      {"processes = 4\ncheaper = 1\n", "needs `master = true`"},
      {"master = true\nprocesses = 4\ncheaper = 1\ncheaper-algo = spare3\n",
       "unknown cheaper algorithm; kiln has spare (the default)"},
      {"master = true\nprocesses = 4\ncheaper = 1\ncheaper-step = 0\n",
       "expected a number from 1 to 1000000"},
      {"processes = 1\nmaster-fifo = /tmp/x.fifo\n", "the master reads it; needs `master = true`"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    std::string ini = dir.Write("app.ini", std::string("[kiln]\nbuiltin-handler = true\n") +
                                               c.ini + "http-socket = " + dir.File("s.sock") +
                                               "\n");
    KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
    ASSERT_TRUE(kiln.Start());
    auto status = kiln.WaitExit(absl::Seconds(15));
    ASSERT_TRUE(status.has_value()) << c.ini;
    EXPECT_NE(*status, 0) << c.ini;
    EXPECT_NE(kiln.Log().find(c.message), std::string::npos) << c.ini << "\n" << kiln.Log();
  }
}

}  // namespace
}  // namespace kiln::testing
