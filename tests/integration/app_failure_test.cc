// RunServer with an application that fails to load: need-app stops startup (exit 1) whether
// the app loads in the master or, with lazy-apps, in every worker.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/option_registry.h"
#include "core/process/server.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::process {
namespace {

// Answers nothing: the app never loads, so no request reaches it.
class NeverCalled : public protocol::Handler {
 public:
  void Handle(protocol::RequestContext&) override {}
};

class FailingApplication : public Application {
 public:
  absl::Status MasterStart() override { return absl::OkStatus(); }
  absl::Status AppLoad() override {
    return absl::InternalError("ImportError: No module named 'app'");
  }
  absl::Status PostFork(int) override { return absl::OkStatus(); }
  void WorkerExit() override {}
  void Shutdown() override {}
  // A handler plugin is loaded (so start-up gets as far as loading the app).
  protocol::Handler* handler() override { return &handler_; }

 private:
  NeverCalled handler_;
};

// Runs RunServer in a child (it blocks signals and forks) and returns its exit code, or -1
// when it did not stop within `timeout`.
int RunInChild(const std::vector<std::string>& args, absl::Duration timeout) {
  pid_t pid = fork();
  if (pid == 0) {
    config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
    config::Diagnostics diag;
    auto raw = config::ReadConfig(args, registry, diag);
    if (!raw.ok()) {
      _exit(100);
    }
    config::ProviderLookup none = [](std::string_view) { return std::string(); };
    auto cfg = config::Resolve(*raw, registry, none, diag);
    if (!cfg.ok()) {
      _exit(101);
    }
    FailingApplication app;
    std::vector<std::string> argv = {"kiln"};
    argv.insert(argv.end(), args.begin(), args.end());
    _exit(RunServer(*cfg, app, argv));
  }
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (absl::Now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

TEST(RunServer, FailsStartupWhenTheAppFailsToLoadInTheMaster) {
  testing::TempDir dir;
  EXPECT_EQ(RunInChild({"--master", "--http-socket", dir.File("s.sock")}, absl::Seconds(20)), 1);
  EXPECT_NE(access(dir.File("s.sock").c_str(), F_OK), 0) << "the failed start left its socket";
}

TEST(RunServer, StopsWhenEveryLazyWorkerFailsToLoadTheApp) {
  testing::TempDir dir;
  EXPECT_EQ(RunInChild({"--master", "--processes", "2", "--lazy-apps", "--http-socket",
                        dir.File("s.sock")},
                       absl::Seconds(20)),
            1);
}

}  // namespace
}  // namespace kiln::process
