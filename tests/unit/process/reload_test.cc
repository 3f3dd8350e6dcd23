// The reload's environment encoding and the scoreboard's shared slots.
#include "core/process/reload.h"

#include <sys/wait.h>
#include <unistd.h>

#include "core/process/scoreboard.h"
#include "gtest/gtest.h"

namespace kiln::process {
namespace {

TEST(ReloadEnv, RoundTripsWorkerPids) {
  std::vector<pid_t> pids = {1234, 99, 40000};
  auto back = DecodePids(EncodePids(pids));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, pids);
}

TEST(ReloadEnv, RejectsPidsThatCouldHitInitOrEveryone) {
  EXPECT_FALSE(DecodePids("0").ok());
  EXPECT_FALSE(DecodePids("1").ok());
  EXPECT_FALSE(DecodePids("-5").ok());
  EXPECT_FALSE(DecodePids("12,,13").ok());
}

TEST(ReloadEnv, TakesAndClearsTheVariables) {
  setenv(kReloadsEnv, "3", 1);
  setenv(kOldWorkersEnv, "100,200", 1);
  ReloadContext ctx = TakeReloadContext({"kiln", "--ini", "a.ini"});
  EXPECT_EQ(ctx.generation, 3);
  EXPECT_EQ(ctx.old_workers, (std::vector<pid_t>{100, 200}));
  EXPECT_FALSE(ctx.check_only);
  EXPECT_EQ(getenv(kReloadsEnv), nullptr);
  EXPECT_EQ(getenv(kOldWorkersEnv), nullptr);
}

TEST(Scoreboard, IsSharedWithForkedChildren) {
  auto sb = Scoreboard::Create(2, 3);
  ASSERT_TRUE(sb.ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sb->worker(2).requests.store(7);
    sb->core(2, 2).request_start_ns.store(42);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(sb->worker(2).requests.load(), 7u);
  EXPECT_EQ(sb->core(2, 2).request_start_ns.load(), 42);
  EXPECT_EQ(sb->worker(1).requests.load(), 0u);
  sb->Reset(2);
  EXPECT_EQ(sb->worker(2).requests.load(), 0u);
  EXPECT_EQ(sb->core(2, 2).request_start_ns.load(), 0);
}

}  // namespace
}  // namespace kiln::process
