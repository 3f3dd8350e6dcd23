// The nginx the integration tests put in front of kiln (tests/lib/nginx_process.h): it answers
// once Start() returns, logs where it says, reloads onto new workers, refuses a bad conf with a
// message naming the directive, and leaves no process behind.
#include <sys/types.h>

#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

// A server answering `text` itself (no upstream), listening on nginx.Address().
std::string Server(const NginxProcess& nginx, const std::string& text) {
  return absl::StrCat("  server {\n    listen ", nginx.Listen(), ";\n    location / { return 200 \"",
                      text, "\"; }\n  }\n");
}

// The children of nginx's master: its workers.
std::set<pid_t> WorkerPids(pid_t master) {
  std::set<pid_t> out;
  const std::string children =
      TempDir::ReadFile(absl::StrCat("/proc/", master, "/task/", master, "/children"));
  for (absl::string_view word : absl::StrSplit(children, ' ', absl::SkipEmpty())) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(word, &pid)) out.insert(pid);
  }
  return out;
}

TEST(NginxProcess, AnswersReloadsOntoNewWorkersAndStopsByPid) {
  pid_t master = -1;
  std::set<pid_t> workers;
  {
    NginxProcess nginx;
    ASSERT_EQ(nginx.Start(Server(nginx, "first")), "");
    master = nginx.Pid();
    ASSERT_GT(master, 0);
    absl::StatusOr<Response> r = HttpGet(nginx.Address(), "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "first");
    EXPECT_THAT(nginx.AccessLog(), HasSubstr("\"GET / HTTP/1.1\" 200"));
    const std::set<pid_t> before = WorkerPids(master);
    ASSERT_FALSE(before.empty());

    ASSERT_EQ(nginx.Reload(Server(nginx, "second")), "");
    workers = WorkerPids(master);
    ASSERT_FALSE(workers.empty());
    for (pid_t w : before) EXPECT_EQ(workers.count(w), 0u) << "old worker " << w << " left";
    r = HttpGet(nginx.Address(), "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "second");
    EXPECT_EQ(nginx.Pid(), master);
  }
  // The destructor stopped the master and its workers.
  EXPECT_FALSE(ProcessAlive(master));
  for (pid_t w : workers) EXPECT_FALSE(ProcessAlive(w)) << "worker " << w;
}

TEST(NginxProcess, ABadDirectiveFailsTheStartWithNginxsOwnMessage) {
  NginxProcess nginx;
  const std::string failure = nginx.Start("  no_such_directive on;\n" + Server(nginx, "x"));
  EXPECT_THAT(failure, HasSubstr("exited (status 1) before it answered on " + nginx.Address()));
  EXPECT_THAT(failure, HasSubstr("unknown directive \"no_such_directive\""));
  EXPECT_THAT(failure, HasSubstr(nginx.Dir() + "/nginx.conf"));
  EXPECT_EQ(nginx.Pid(), -1);
}

TEST(NginxProcess, ARefusedReloadLeavesTheOldWorkersServing) {
  NginxProcess::Options unix_socket;
  unix_socket.unix_socket = true;
  NginxProcess nginx(unix_socket);
  ASSERT_EQ(nginx.Start(Server(nginx, "kept")), "");
  const std::string failure = nginx.Reload("  no_such_directive on;\n" + Server(nginx, "x"));
  EXPECT_THAT(failure, HasSubstr("refused the reload"));
  EXPECT_THAT(failure, HasSubstr("unknown directive \"no_such_directive\""));
  absl::StatusOr<Response> r = HttpGet(nginx.Address(), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "kept");
}

}  // namespace
}  // namespace kiln::testing
