// The plugin set at run time: routing requests by modifier1 through the host table, error
// answers, options read by plugins, and logger schemes backed by the logfile plugin.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/base/check.h"
#include "core/log/sink_spec.h"
#include "core/plugin/host_api.h"
#include "core/plugin/plugin_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"
#include "tests/unit/plugin/plugin_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;
using testing::Raw;
using testing::Server;

class FakeRequest : public RequestContext {
 public:
  FakeRequest(uint8_t modifier1, std::vector<std::pair<std::string, std::string>> vars,
              std::string body)
      : modifier1_(modifier1), vars_(std::move(vars)), body_(std::move(body)) {}

  std::optional<std::string_view> Var(std::string_view name) const override {
    std::optional<std::string_view> found;
    for (const auto& [k, v] : vars_) {
      if (k == name) {
        found = v;
      }
    }
    return found;
  }
  void ForEachVar(absl::FunctionRef<void(std::string_view, std::string_view)> fn) const override {
    for (const auto& [k, v] : vars_) {
      fn(k, v);
    }
  }
  size_t VarCount() const override { return vars_.size(); }
  uint8_t Modifier1() const override { return modifier1_; }
  uint8_t Modifier2() const override { return 0; }
  absl::StatusOr<size_t> ReadBody(char* buf, size_t len) override {
    size_t n = std::min(len, body_.size() - body_pos_);
    std::memcpy(buf, body_.data() + body_pos_, n);
    body_pos_ += n;
    return n;
  }
  absl::Status StartResponse(int status, std::string_view reason,
                             const std::vector<Header>& headers) override {
    if (started_) {
      return absl::FailedPreconditionError("started twice");
    }
    started_ = true;
    status_ = status;
    reason_ = std::string(reason);
    for (const Header& h : headers) {
      headers_[std::string(h.name)] = std::string(h.value);
    }
    return absl::OkStatus();
  }
  absl::Status WriteBody(std::string_view data) override {
    out_.append(data);
    return absl::OkStatus();
  }
  absl::Status SendFile(int fd, int64_t offset, int64_t length) override {
    return absl::UnimplementedError("no sendfile here");
  }
  bool ResponseStarted() const override { return started_; }
  // Never waits; records the last hook set, to see the plugin set remove it.
  void SetWaitHook(void (*fn)(void* ctx, int waiting), void* ctx) override {
    wait_hook_ = fn;
    wait_hook_ctx_ = ctx;
    ++wait_hook_sets_;
  }
  int WorkerId() const override { return 1; }
  int CoreId() const override { return 0; }

  int status_ = 0;
  void (*wait_hook_)(void* ctx, int waiting) = nullptr;
  void* wait_hook_ctx_ = nullptr;
  int wait_hook_sets_ = 0;
  std::string reason_;
  std::map<std::string, std::string> headers_;
  std::string out_;

 private:
  uint8_t modifier1_;
  std::vector<std::pair<std::string, std::string>> vars_;
  std::string body_;
  size_t body_pos_ = 0;
  bool started_ = false;
};

std::vector<std::pair<std::string, std::string>> GetVars(std::string path) {
  return {{"REQUEST_METHOD", "POST"}, {"PATH_INFO", std::move(path)}, {"QUERY_STRING", ""}};
}

TEST(PluginHandle, RoutesModifier1ZeroToTheEchoPluginWithItsOption) {
  Server s(Raw({{"plugins", "echo"}, {"echo-greeting", "hey"}}), {testing::TestPluginDir()});
  FakeRequest req(0, GetVars("/x"), "abc");
  s.set->Handle(req);
  EXPECT_EQ(req.status_, 200);
  EXPECT_EQ(req.headers_["Content-Type"], "text/plain");
  EXPECT_EQ(req.out_, "hey POST /x body=abc vars=3");
}

// SDK 1.5: the end of a worker's serving threads reaches each plugin that asks for it, once
// per call (ServeLoop::Run makes it once, before it frees their connections).
TEST(PluginHandle, TheEndOfTheServingThreadsReachesThePlugin) {
  Server s(Raw({{"plugins", "echo"}}), {testing::TestPluginDir()});
  FakeRequest before(0, GetVars("/threads-done"), "");
  s.set->Handle(before);
  s.set->ServeThreadsDone();
  FakeRequest after(0, GetVars("/threads-done"), "");
  s.set->Handle(after);
  const int seen_before = std::stoi(before.out_.substr(before.out_.find('=') + 1));
  EXPECT_EQ(after.out_, "serve_threads_done=" + std::to_string(seen_before + 1));
}

// A plugin's wait hook (request_wait_hook) lasts as long as its call: the plugin set removes
// it when the call returns, so the core's own waits afterwards never call into the plugin.
TEST(PluginHandle, AWaitHookThePluginSetEndsWithItsCall) {
  Server s(Raw({{"plugins", "echo"}}), {testing::TestPluginDir()});
  FakeRequest req(0, GetVars("/wait-hook"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.status_, 200);
  EXPECT_EQ(req.wait_hook_sets_, 2);  // set by the plugin, then removed by the plugin set
  EXPECT_EQ(req.wait_hook_, nullptr);
  EXPECT_EQ(req.wait_hook_ctx_, nullptr);
}

TEST(PluginHandle, PluginsLineAfterItsOptionStillWorks) {
  // As in uWSGI, plugins named anywhere in the file load before the file is validated.
  Server s(Raw({{"echo-greeting", "early"}, {"plugins", "echo"}}), {testing::TestPluginDir()});
  EXPECT_EQ(s.diag.Count(config::Severity::kWarning) + s.diag.Count(config::Severity::kError), 0u);
  FakeRequest req(0, GetVars("/"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.out_, "early POST / body= vars=3");
}

TEST(PluginHandle, OptionDefaultIsSeenWhenUnset) {
  Server s(Raw({{"plugins", "echo"}}), {testing::TestPluginDir()});
  FakeRequest req(0, GetVars("/"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.out_, "hello POST / body= vars=3");
}

TEST(PluginHandle, UnclaimedModifier1IsAnswered500) {
  Server s(Raw({{"plugins", "echo"}}), {testing::TestPluginDir()});
  FakeRequest req(6, GetVars("/"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.status_, 500);
}

TEST(PluginHandle, PluginErrorBeforeTheResponseIsAnswered500) {
  Server s(Raw({{"plugins", "echo"}}), {testing::TestPluginDir()});
  FakeRequest req(0, GetVars("/fail"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.status_, 500);
}

TEST(PluginHandle, DeclinedRequestIsAnswered404) {
  Server s(Raw({{"plugins", "30:snake"}}), {testing::TestPluginDir()});
  FakeRequest req(30, GetVars("/"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.status_, 404);
}

TEST(PluginHandle, LoneHandlerAnswersModifier1Zero) {
  Server s(Raw({{"plugins", "snake"}}), {testing::TestPluginDir()});
  FakeRequest req(0, GetVars("/"), "");
  s.set->Handle(req);
  EXPECT_EQ(req.status_, 404);  // snake declines: it was reached, not the 500 of "unclaimed"
}

// A plugin built for ABI 1.0 (on_mount, on_request) keeps its mounts under a 1.1 host: the
// host routes to it and it sees SCRIPT_NAME/PATH_INFO as the host split them.
TEST(PluginHandle, A10PluginStillGetsItsMountsRoutedAndSplit) {
  Server s(Raw({{"plugins", "echo,mount10"}, {"mount", "/old=app.m10"},
                {"manage-script-name", "true"}}),
           {testing::TestPluginDir()});
  EXPECT_EQ(s.set->MountCount(), 1u);
  FakeRequest mounted(0, GetVars("/old/a"), "");
  s.set->Handle(mounted);
  EXPECT_EQ(mounted.status_, 200);
  EXPECT_EQ(mounted.out_, "m10 /old|/a");
  FakeRequest other(0, GetVars("/older"), "");  // not on a '/' boundary: modifier1 0's plugin
  s.set->Handle(other);
  EXPECT_EQ(other.out_, "hello POST /older body= vars=3");
}

TEST(PluginHandle, AMountNoPluginClaimsFailsStartupNamingIt) {
  config::RawConfig raw = Raw({{"plugins", "echo,mount10"}, {"mount", "/x=app.rb"}});
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  auto set = PluginSet::LoadWith(raw, registry, diag, SearchPath{{testing::TestPluginDir()}});
  ASSERT_TRUE(set.ok()) << set.status();
  auto cfg = config::Resolve(raw, registry, (*set)->Providers(), diag);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  absl::Status st = (*set)->ConfigDone(*cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("mount `/x=app.rb`: no loaded plugin"));
  EXPECT_EQ((*set)->MountCount(), 0u);
}

TEST(PluginHandle, HostTableReportsVersionAndCounts) {
  Server s(Raw({{"plugins", "echo"}, {"processes", "3"}}), {testing::TestPluginDir()});
  const kiln_host_api* api = HostApi();
  EXPECT_EQ(api->size, sizeof(kiln_host_api));
  EXPECT_EQ(api->abi_major, KILN_ABI_MAJOR);
  EXPECT_EQ(api->worker_count(), 3);
  EXPECT_EQ(api->worker_id(), 0);
  EXPECT_GT(api->time_monotonic_us(), 0);
  kiln_str v;
  EXPECT_EQ(api->option_get(nullptr, kiln_str_c("processes"), &v), KILN_OK);
  EXPECT_EQ(std::string(v.ptr, v.len), "3");
  EXPECT_EQ(api->option_get(nullptr, kiln_str_c("no-such-option"), &v), KILN_ERROR);
  int64_t n = 0;
  EXPECT_EQ(api->option_number(nullptr, kiln_str_c("processes"), &n), KILN_OK);
  EXPECT_EQ(n, 3);
  ASSERT_GE(api->config_entry_count(nullptr), 2u);
  kiln_str key, value;
  EXPECT_EQ(api->config_entry_get(nullptr, 1, &key, &value), KILN_OK);
  EXPECT_EQ(std::string(key.ptr, key.len), "processes");
  kiln_worker_stats stats{};
  stats.size = sizeof(stats);
  EXPECT_EQ(api->scoreboard_worker(1, &stats), KILN_DECLINED);
}

class LogfileTest : public log::testing::TempDirTest {};

TEST_F(LogfileTest, FileSchemeCreatesTheFileMode0640AndAppendsLines) {
  std::string path = dir_ + "/app.log";
  Server s(Raw({{"plugins", "logfile"}, {"logger", "file:" + path}}), {testing::BuildPluginDir()});
  auto sink = log::OpenSink("file:" + path, s.set->LoggerSchemes(), {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Write("one\n");
  (*sink)->Write("two\n");
  EXPECT_EQ(Slurp(path), "one\ntwo\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ((*sink)->Describe(), "file:" + path);
}

TEST_F(LogfileTest, LogfileChmodSetsTheMode) {
  std::string path = dir_ + "/app.log";
  Server s(Raw({{"plugins", "logfile"}, {"logfile-chmod", "600"}}), {testing::BuildPluginDir()});
  auto sink = log::OpenSink("file:" + path, s.set->LoggerSchemes(), {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(LogfileTest, ReopenFollowsARotatedFile) {
  std::string path = dir_ + "/app.log";
  Server s(Raw({{"plugins", "logfile"}}), {testing::BuildPluginDir()});
  auto sink = log::OpenSink("file:" + path, s.set->LoggerSchemes(), {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Write("before\n");
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_TRUE((*sink)->Reopen().ok());
  (*sink)->Write("after\n");
  EXPECT_EQ(Slurp(path + ".1"), "before\n");
  EXPECT_EQ(Slurp(path), "after\n");
}

TEST_F(LogfileTest, UnopenableFileIsAClearErrorNamingPathAndReason) {
  std::string path = dir_ + "/missing-dir/app.log";
  Server s(Raw({{"plugins", "logfile"}}), {testing::BuildPluginDir()});
  auto sink = log::OpenSink("file:" + path, s.set->LoggerSchemes(), {});
  ASSERT_FALSE(sink.ok());
  std::string msg(sink.status().message());
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("No such file or directory"));
  EXPECT_THAT(msg, HasSubstr("logger `file:"));
}

TEST_F(LogfileTest, FailedReopenKeepsWritingToTheOldFile) {
  std::string sub = dir_ + "/d";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  std::string path = sub + "/app.log";
  Server s(Raw({{"plugins", "logfile"}}), {testing::BuildPluginDir()});
  auto sink = log::OpenSink("file:" + path, s.set->LoggerSchemes(), {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_EQ(std::rename(sub.c_str(), (sub + ".old").c_str()), 0);  // path vanishes
  absl::Status reopened = (*sink)->Reopen();
  EXPECT_FALSE(reopened.ok());
  EXPECT_THAT(std::string(reopened.message()), HasSubstr(path));
  (*sink)->Write("still here\n");
  EXPECT_EQ(Slurp(sub + ".old/app.log"), "still here\n");
}

}  // namespace
}  // namespace kiln::plugin
