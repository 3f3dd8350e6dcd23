// The operations options of uWSGI files as ServerOptions reads them (hooks, exec-*, cron,
// pidfiles, protocol, lazy, procname-prefix-spaced, max-requests-delta, attach-daemon2), and
// the pure hook parser.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/option_registry.h"
#include "core/process/hooks.h"
#include "core/process/operations.h"
#include "core/process/server_options.h"
#include "core/process/supervisor_policy.h"
#include "core/process/worker.h"
#include "gtest/gtest.h"

namespace kiln::process {
namespace {

absl::StatusOr<ServerOptions> Read(std::vector<std::pair<std::string, std::string>> kv) {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  config::RawConfig raw;
  int line = 1;
  for (auto& [k, v] : kv) {
    raw.entries.push_back(config::Entry{k, v, "app.ini", line++, false});
  }
  auto cfg = config::Resolve(raw, registry, [](std::string_view) { return std::string(); }, diag);
  if (!cfg.ok()) return cfg.status();
  return ServerOptions::FromConfig(*cfg);
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(OperationsOptionsRead, HooksAndExecShortcutsLandInTheirPhaseHooksFirst) {
  auto o = Read({{"exec-pre-app", "touch /tmp/x"},
                 {"hook-pre-app", "mkdir:/tmp/d"},
                 {"hook-master-start", "print:hello"},
                 {"hook-accepting1-once", "!write:/tmp/f secret"}});
  ASSERT_TRUE(o.ok()) << o.status();
  const auto& pre = o->hooks.at(HookPhase::kPreApp);
  ASSERT_EQ(pre.size(), 2u);
  EXPECT_EQ(pre[0].action, "mkdir");
  EXPECT_EQ(pre[0].arg, "/tmp/d");
  EXPECT_EQ(pre[1].action, "exec");
  EXPECT_EQ(pre[1].arg, "touch /tmp/x");
  ASSERT_EQ(o->hooks.at(HookPhase::kMasterStart).size(), 1u);
  const auto& once = o->hooks.at(HookPhase::kAccepting1Once);
  ASSERT_EQ(once.size(), 1u);
  EXPECT_TRUE(once[0].quiet);
  EXPECT_EQ(once[0].action, "write");
}

TEST(OperationsOptionsRead, AnUnknownHookActionIsAnErrorNamingIt) {
  auto o = Read({{"hook-master-start", "exce:/bin/true"}});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(Message(o.status()).find("unknown hook action `exce`"), std::string::npos)
      << o.status();
  EXPECT_NE(Message(o.status()).find("hook-master-start"), std::string::npos) << o.status();
  auto unsupported = Read({{"hook-as-root", "mount:proc none /proc"}});
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(Message(unsupported.status()).find("`mount` is not supported by kiln"),
            std::string::npos)
      << unsupported.status();
  auto no_colon = Read({{"hook-asap", "echo hi"}});
  ASSERT_FALSE(no_colon.ok());
  EXPECT_NE(Message(no_colon.status()).find("action:argument"), std::string::npos);
}

TEST(OperationsOptionsRead, GracefulSigtermBindingTurnsDieOnTermOn) {
  auto o = Read({{"die-on-term", "false"},
                 {"hook-master-start", "unix_signal:15 gracefully_kill_them_all"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->die_on_term);
  auto other = Read({{"hook-master-start", "unix_signal:10 grace_them_all"}});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(Message(other.status()).find("unix_signal:10"), std::string::npos);
}

TEST(OperationsOptionsRead, LazyIsLazyAppsAndChdir2LimitAsPidfilesAreRead) {
  auto o = Read({{"lazy", "true"},
                 {"chdir2", "/srv/app"},
                 {"limit-as", "512"},
                 {"safe-pidfile", "/run/a.pid"},
                 {"pidfile2", "/run/b.pid"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->lazy_apps);
  EXPECT_EQ(o->chdir2, "/srv/app");
  EXPECT_EQ(o->limit_as_bytes, uint64_t{512} << 20);  // megabytes, as uWSGI
  EXPECT_EQ(o->safe_pidfile, "/run/a.pid");
  EXPECT_EQ(o->pidfile2, "/run/b.pid");
}

TEST(OperationsOptionsRead, ProtocolHttpMakesSocketSpeakHttp) {
  auto o = Read({{"socket", "127.0.0.1:9000"}, {"protocol", "http"}});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->sockets.size(), 1u);
  EXPECT_TRUE(o->sockets[0].http);
  auto plain = Read({{"socket", "127.0.0.1:9000"}});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->sockets[0].http);
  auto bad = Read({{"socket", "127.0.0.1:9000"}, {"protocol", "fastcgi"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Message(bad.status()).find("protocol = fastcgi"), std::string::npos);
}

TEST(OperationsOptionsRead, ProcnamePrefixSpacedAddsASpace) {
  auto o = Read({{"procname-prefix-spaced", "myapp"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->procname_prefix, "myapp ");
}

TEST(OperationsOptionsRead, MaxRequestsDeltaOffsetsEachWorker) {
  // uWSGI core/utils.c: max_requests + (mywid - 1) * max_requests_delta.
  EXPECT_EQ(MaxRequestsOfWorker(1000, 10, 1), 1000u);
  EXPECT_EQ(MaxRequestsOfWorker(1000, 10, 2), 1010u);
  EXPECT_EQ(MaxRequestsOfWorker(1000, 10, 4), 1030u);
  EXPECT_EQ(MaxRequestsOfWorker(0, 10, 4), 0u);  // no max-requests: no limit
  auto o = Read({{"max-requests", "100"}, {"max-requests-delta", "7"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->max_requests_delta, 7u);
}

// The worker's own recycling check uses its offset limit: worker 2 of max-requests 3 and
// delta 2 finishes after 5 requests, not 3.
TEST(OperationsOptionsRead, MaxRequestsDeltaIsWhatAWorkerRecyclesAt) {
  auto sb = Scoreboard::Create(2, 1);
  ASSERT_TRUE(sb.ok()) << sb.status();
  ServerOptions o;
  o.max_requests = 3;
  o.max_requests_delta = 2;
  o.min_worker_lifetime = absl::ZeroDuration();
  ScoreboardObserver worker2(*sb, 2, o);
  for (int i = 0; i < 4; ++i) worker2.RequestFinished(0, net::RequestOutcome{.status = 200, .response_bytes = 10});
  EXPECT_EQ(sb->worker(2).recycle_reason.load(), 0);
  worker2.RequestFinished(0, net::RequestOutcome{.status = 200, .response_bytes = 10});
  EXPECT_EQ(static_cast<RecycleReason>(sb->worker(2).recycle_reason.load()),
            RecycleReason::kMaxRequests);
  EXPECT_EQ(sb->worker(2).recycle_value.load(), 5u);
}

TEST(OperationsOptionsRead, CronNeedsTheMasterAndParses) {
  auto no_master = Read({{"cron", "-1 -1 -1 -1 -1 /bin/true"}});
  ASSERT_FALSE(no_master.ok());
  EXPECT_NE(Message(no_master.status()).find("master"), std::string::npos);
  auto o = Read({{"master", "true"},
                 {"cron", "0 3 -1 -1 -1 /usr/bin/backup --all"},
                 {"cron2", "minute=-5,unique=1 /usr/bin/poll"}});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->crons.size(), 2u);
  EXPECT_EQ(o->crons[0].hour, 3);
  EXPECT_EQ(o->crons[0].command, "/usr/bin/backup --all");
  EXPECT_EQ(o->crons[1].minute, -5);
  EXPECT_TRUE(o->crons[1].unique);
}

TEST(OperationsOptionsRead, AttachDaemon2TakesCmdAndNamesUnsupportedKeys) {
  auto o = Read({{"master", "true"}, {"attach-daemon2", "cmd=/usr/bin/worker -v"}});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->attach_daemons.size(), 1u);
  EXPECT_EQ(o->attach_daemons[0], "/usr/bin/worker -v");
  auto bad = Read({{"attach-daemon2", "cmd=/bin/x,pidfile=/run/x.pid"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Message(bad.status()).find("`pidfile` is not supported"), std::string::npos)
      << bad.status();
}

TEST(Capabilities, NamesAndNumbersParseAndUnknownOnesAreNamed) {
  auto mask = ParseCapabilities({"net_bind_service", "sys_nice", "0"});
  ASSERT_TRUE(mask.ok()) << mask.status();
  EXPECT_EQ(*mask, (uint64_t{1} << 10) | (uint64_t{1} << 23) | 1u);
  auto bad = ParseCapabilities({"net_bind"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Message(bad.status()).find("`net_bind`"), std::string::npos);
}

class HookActions : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-hooks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)system(("rm -rf " + dir_).c_str()); }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  absl::Status Run(const std::string& text) {
    auto a = ParseHookAction(text);
    if (!a.ok()) return a.status();
    return RunHookAction(*a);
  }
  std::string dir_;
};

TEST_F(HookActions, WriteAppendCreateMkdirUnlinkDoWhatTheySay) {
  ASSERT_TRUE(Run("write:" + dir_ + "/f one two").ok());
  EXPECT_EQ(Slurp(dir_ + "/f"), "one two");
  ASSERT_TRUE(Run("writen:" + dir_ + "/f again").ok());
  EXPECT_EQ(Slurp(dir_ + "/f"), "again\n");
  ASSERT_TRUE(Run("appendn:" + dir_ + "/f more").ok());
  EXPECT_EQ(Slurp(dir_ + "/f"), "again\nmore\n");
  ASSERT_TRUE(Run("mkdir:" + dir_ + "/d").ok());
  struct stat st;
  EXPECT_EQ(stat((dir_ + "/d").c_str(), &st), 0);
  ASSERT_TRUE(Run("create:" + dir_ + "/empty").ok());
  EXPECT_EQ(Slurp(dir_ + "/empty"), "");
  ASSERT_TRUE(Run("unlink:" + dir_ + "/empty").ok());
  EXPECT_NE(access((dir_ + "/empty").c_str(), F_OK), 0);
}

TEST_F(HookActions, WriteRefusesASymlink) {
  ASSERT_EQ(symlink("/etc/hostname", (dir_ + "/link").c_str()), 0);
  absl::Status s = Run("write:" + dir_ + "/link x");
  EXPECT_FALSE(s.ok());
}

TEST_F(HookActions, ExecFailsOnANonZeroExitAndSafeexecDoesNot) {
  ASSERT_TRUE(Run("exec:echo ran > " + dir_ + "/out").ok());
  EXPECT_EQ(Slurp(dir_ + "/out"), "ran\n");
  absl::Status s = Run("exec:exit 3");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Message(s).find("code 3"), std::string::npos) << s;
  EXPECT_TRUE(Run("safeexec:exit 3").ok());
}

TEST_F(HookActions, RunHooksStopsAtTheFirstFailureAndNamesThePhase) {
  Hooks hooks;
  hooks.at(HookPhase::kPostApp).push_back(*ParseHookAction("exec:false"));
  hooks.at(HookPhase::kPostApp).push_back(*ParseHookAction("write:" + dir_ + "/never x"));
  absl::Status s = RunHooks(hooks, HookPhase::kPostApp);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Message(s).find("hook-post-app `exec:false`"), std::string::npos) << s;
  EXPECT_NE(access((dir_ + "/never").c_str(), F_OK), 0);
}

TEST(FirstAccepting, OncePerWorkerIdAcrossForks) {
  PrepareFirstAccepting(2);
  pid_t pid = fork();
  if (pid == 0) {
    _exit(FirstAccepting(2) ? 0 : 1);  // a worker that has not accepted before
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(FirstAccepting(2));  // its respawn (here: the parent) is not the first
  EXPECT_TRUE(FirstAccepting(1));
  EXPECT_FALSE(FirstAccepting(1));
}

}  // namespace
}  // namespace kiln::process
