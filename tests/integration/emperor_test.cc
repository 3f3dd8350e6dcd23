// The emperor with the real binary and real plugins: a Python and a Lua vassal under one
// emperor (and the Python one behind nginx's uwsgi_pass), files added, changed, touched and
// deleted under client load, a vassal crashing at start-up, a vassal master killed, tyrant
// mode, the emperor's own signals (TERM with a request in flight, HUP, KILL), and the emperor
// stats over HTTP (/metrics through promtool, /ready, /live).
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"

namespace kiln::testing {
namespace {

// Requests back to back on fresh connections from one thread until stopped.
class ClientLoop {
 public:
  ClientLoop(std::string address, std::string expect)
      : address_(std::move(address)), expect_(std::move(expect)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        auto r = HttpGet(address_, "/", absl::Seconds(10));
        if (r.ok() && r->status == 200 && r->body.find(expect_) != std::string::npos) {
          ok_.fetch_add(1);
        } else {
          failed_.fetch_add(1);
          last_error_ = r.ok() ? absl::StrCat("status ", r->status, " ", r->body)
                               : r.status().ToString();
        }
      }
    });
  }
  ~ClientLoop() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  const std::string& last_error() const { return last_error_; }

 private:
  std::string address_;
  std::string expect_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::string last_error_;
  std::thread thread_;
};

// Every pid logged after `prefix` ("emperor: vassal a.ini started (pid: ", "spawned kiln
// worker "), in order. Only whole numbers (followed by `,` or `)`): the log is read while it
// is written, and a pid cut short would send a test's signal to some other process.
std::vector<pid_t> LoggedPids(const std::string& log, const std::string& prefix) {
  std::vector<pid_t> out;
  size_t at = 0;
  while ((at = log.find(prefix, at)) != std::string::npos) {
    size_t p = log.find("(pid: ", at);
    at += prefix.size();
    if (p == std::string::npos || p - at >= 40) continue;
    size_t digits = p + 6;
    size_t end = log.find_first_not_of("0123456789", digits);
    if (end == std::string::npos || end == digits || (log[end] != ',' && log[end] != ')')) {
      continue;
    }
    out.push_back(std::atoi(log.c_str() + digits));
  }
  return out;
}

pid_t VassalPid(const KilnProcess& emperor, const std::string& id) {
  auto pids = LoggedPids(emperor.Log(), "emperor: vassal " + id + " started ");
  return pids.empty() ? 0 : pids.back();
}

// The emperor-stats document from a unix socket ("" on failure).
std::string ReadStats(const std::string& path) {
  auto fd = Connect(path);
  if (!fd.ok()) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(*fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(*fd);
  return out;
}

// `promtool check metrics < file`, its output in `log`: the exit code, -1 when it ran over
// 20 s (then it is killed by pid).
int Promtool(const std::string& file, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execl("/usr/bin/promtool", "promtool", "check", "metrics", static_cast<char*>(nullptr));
    _exit(127);
  }
  absl::Time end = absl::Now() + absl::Seconds(20);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return cond();
}

// "Uid:\tR\tE\tS\tF" of /proc/<pid>/status, "" when gone.
std::string ProcIds(pid_t pid, const char* which) {
  std::ifstream in(absl::StrFormat("/proc/%d/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(which, 0) == 0) return line;
  }
  return "";
}

std::string BuiltinVassal(const std::string& sock) {
  return absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nbuiltin-handler = true\n",
                      "http-socket = ", sock, "\nvacuum = true\n");
}

class EmperorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vassals_ = dir_.path() + "/vassals";
    ASSERT_EQ(mkdir(vassals_.c_str(), 0755), 0);
  }
  std::string Vassal(const std::string& name, const std::string& text) {
    return dir_.Write("vassals/" + name, text);
  }
  // `source`: the `emperor` value, the vassal directory unless given.
  void StartEmperor(std::vector<std::string> extra = {}, std::string source = "") {
    std::vector<std::string> args = {"--emperor", source.empty() ? vassals_ : source,
                                     "--emperor-stats", Stats(), "--vassal-set",
                                     "plugin-dir=" + PluginDir()};
    args.insert(args.end(), extra.begin(), extra.end());
    emperor_ = std::make_unique<KilnProcess>(args, dir_.File("emperor.log"));
    ASSERT_TRUE(emperor_->Start());
  }
  std::string Stats() const { return dir_.File("stats.sock"); }

  TempDir dir_;
  std::string vassals_;
  std::unique_ptr<KilnProcess> emperor_;
};

TEST_F(EmperorTest, PythonAndLuaVassalsAddChangeTouchDeleteUnderLoad) {
  std::string py_http = dir_.File("py.http");
  std::string lua_http = dir_.File("lua.http");
  Vassal("app.py",
         "def application(env, start_response):\n"
         "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
         "    return [b'python vassal']\n");
  Vassal("hello.lua",
         "return function(env)\n  local body = 'lua vassal'\n"
         "  return 200, {['Content-Type'] = 'text/plain'},\n"
         "    coroutine.wrap(function() coroutine.yield(body) end)\nend\n");
  std::string common = dir_.Write("common.ini", "[uwsgi]\nmaster = true\nprocesses = 2\n");
  std::string py_ini = Vassal("py.ini", absl::StrCat("[uwsgi]\nplugins = python3\n",
                                                     "wsgi-file = app.py\nhttp-socket = ",
                                                     py_http, "\nvacuum = true\n"));
  std::string lua_ini = Vassal("lua.ini", absl::StrCat("[uwsgi]\nplugins = lua\n",
                                                       "lua = hello.lua\nhttp-socket = ",
                                                       lua_http, "\nvacuum = true\n"));
  StartEmperor({"--vassals-include", common});
  ASSERT_TRUE(WaitUntilHttpAnswers(py_http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(lua_http, absl::Seconds(15))) << emperor_->Log();
  // vassals-include came after the vassal's file: master with 2 workers in each.
  EXPECT_EQ(LoggedPids(emperor_->Log(), "spawned kiln worker ").size(), 4u) << emperor_->Log();
  pid_t py_pid = VassalPid(*emperor_, "py.ini");
  pid_t lua_pid = VassalPid(*emperor_, "lua.ini");
  {
    ClientLoop py(py_http, "python vassal");
    ClientLoop lua(lua_http, "lua vassal");
    absl::SleepFor(absl::Milliseconds(300));
    // A changed file: that vassal reloads (kiln's re-exec keeps its pid), the other does not.
    std::ofstream(py_ini, std::ios::app) << "# changed\n";
    ASSERT_TRUE(emperor_->WaitForLog("vassal py.ini: its file changed: graceful reload",
                                     absl::Seconds(10)))
        << emperor_->Log();
    ASSERT_TRUE(emperor_->WaitForLog("the new generation is accepting", absl::Seconds(15)))
        << emperor_->Log();
    EXPECT_EQ(emperor_->Log().find("vassal lua.ini: its file changed"), std::string::npos);
    // A touched file (same content, new mtime) reloads too.
    Touch(lua_ini, 2);
    ASSERT_TRUE(emperor_->WaitForLog("vassal lua.ini: its file changed: graceful reload",
                                     absl::Seconds(10)))
        << emperor_->Log();
    ASSERT_TRUE(emperor_->WaitForLog("the new generation is accepting", absl::Seconds(15), 2))
        << emperor_->Log();
    // A new file: a new vassal; then deleted: stopped gracefully, its socket vacuumed.
    std::string extra_http = dir_.File("extra.http");
    std::string extra_ini = Vassal("extra.ini", BuiltinVassal(extra_http));
    ASSERT_TRUE(WaitUntilHttpAnswers(extra_http, absl::Seconds(15))) << emperor_->Log();
    pid_t extra_pid = VassalPid(*emperor_, "extra.ini");
    ASSERT_GT(extra_pid, 0);
    ASSERT_EQ(unlink(extra_ini.c_str()), 0);
    ASSERT_TRUE(emperor_->WaitForLog("vassal extra.ini stopped (exited with code 0)",
                                     absl::Seconds(10)))
        << emperor_->Log();
    EXPECT_FALSE(ProcessAlive(extra_pid));
    struct stat st;
    EXPECT_NE(lstat(extra_http.c_str(), &st), 0) << "vacuum left the socket";
    absl::SleepFor(absl::Milliseconds(300));
    py.Stop();
    lua.Stop();
    EXPECT_EQ(py.failed(), 0) << py.last_error();
    EXPECT_EQ(lua.failed(), 0) << lua.last_error();
    EXPECT_GT(py.ok(), 20);
    EXPECT_GT(lua.ok(), 20);
  }
  EXPECT_EQ(VassalPid(*emperor_, "py.ini"), py_pid);  // reloaded in place, never respawned
  EXPECT_EQ(VassalPid(*emperor_, "lua.ini"), lua_pid);
  // The stats document: both ready again after their reloads, uWSGI's keys.
  std::string stats;
  ASSERT_TRUE(WaitFor(
      [&] {
        stats = ReadStats(Stats());
        return std::regex_search(stats, std::regex(R"("id":"py.ini","pid":\d+,[^}]*"ready":1)")) &&
               std::regex_search(stats, std::regex(R"("id":"lua.ini","pid":\d+,[^}]*"ready":1)"));
      },
      absl::Seconds(5)))
      << stats;
  for (const char* key : {"\"version\"", "\"emperor\":[", "\"emperor_tyrant\":0",
                          "\"throttle_level\"", "\"blacklist\":[]", "\"loyal\":1",
                          "\"last_mod\"", "\"respawns\":0", "\"monitor\""}) {
    EXPECT_NE(stats.find(key), std::string::npos) << key << " in " << stats;
  }
}

TEST_F(EmperorTest, PythonVassalBehindNginxUwsgiPass) {
  std::string usock = dir_.File("py.sock");
  Vassal("app.py",
         "def application(env, start_response):\n"
         "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
         "    return [b'python via nginx']\n");
  Vassal("py.ini", absl::StrCat("[uwsgi]\nmaster = true\nplugins = python3\nwsgi-file = app.py\n",
                                "socket = ", usock, "\nchmod-socket = 666\nvacuum = true\n"));
  StartEmperor();
  ASSERT_TRUE(WaitFor([&] { return access(usock.c_str(), F_OK) == 0; }, absl::Seconds(15)))
      << emperor_->Log();
  NginxProcess nginx;
  ASSERT_EQ(nginx.Start(absl::StrFormat(R"(  server {
    listen %s;
    server_name py.example;
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%s;
    }
  }
)",
                                        nginx.Listen(), usock)),
            "")
      << emperor_->Log();
  // The vassal's app answers through nginx (its socket file may come before its workers).
  ASSERT_TRUE(WaitUntilHttpAnswers(nginx.Address(), absl::Seconds(15)))
      << nginx.ErrorLog() << emperor_->Log();
  int ok = 0;
  std::string body;
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(nginx.Address(), "/x");
    if (r.ok() && r->status == 200) {
      ++ok;
      body = r->body;
    }
  }
  EXPECT_EQ(ok, 20) << nginx.ErrorLog() << emperor_->Log();
  EXPECT_EQ(body, "python via nginx");
}

TEST_F(EmperorTest, VassalCrashingAtStartIsThrottledBlacklistedAndComesBackWhenFixed) {
  std::string good_http = dir_.File("good.http");
  std::string bad_http = dir_.File("bad.http");
  Vassal("good.ini", BuiltinVassal(good_http));
  Vassal("broken.py", "raise ZeroDivisionError('broken at import')\n");
  std::string bad_ini =
      Vassal("bad.ini", absl::StrCat("[uwsgi]\nmaster = true\nplugins = python3\n",
                                     "wsgi-file = broken.py\nhttp-socket = ", bad_http, "\n"));
  StartEmperor({"--emperor-throttle", "200", "--emperor-max-throttle", "1000"});
  ASSERT_TRUE(WaitUntilHttpAnswers(good_http, absl::Seconds(15))) << emperor_->Log();
  ClientLoop good(good_http, "");
  ASSERT_TRUE(emperor_->WaitForLog("vassal bad.ini exited with code 1 before it was ready "
                                   "(attempt 3): blacklisted",
                                   absl::Seconds(15)))
      << emperor_->Log();
  std::string log = emperor_->Log();
  EXPECT_NE(log.find("ZeroDivisionError: broken at import"), std::string::npos) << log;
  EXPECT_NE(log.find("next try in 200ms"), std::string::npos) << log;
  EXPECT_NE(log.find("next try in 800ms"), std::string::npos) << log;
  std::string stats = ReadStats(Stats());
  EXPECT_TRUE(std::regex_search(
      stats, std::regex(R"("blacklist":\[\{"id":"bad.ini","throttle_level":\d+,"attempt":\d+)")))
      << stats;
  // Fixed: back at the next change, off the blacklist.
  Vassal("broken.py",
         "def application(env, start_response):\n"
         "    start_response('200 OK', [])\n    return [b'fixed']\n");
  std::ofstream(bad_ini, std::ios::app) << "# fixed\n";
  ASSERT_TRUE(WaitUntilHttpAnswers(bad_http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("vassal bad.ini is ready: off the blacklist", absl::Seconds(5)));
  EXPECT_NE(ReadStats(Stats()).find("\"blacklist\":[]"), std::string::npos);
  good.Stop();
  EXPECT_EQ(good.failed(), 0) << good.last_error();
  EXPECT_GT(good.ok(), 10);
}

TEST_F(EmperorTest, ABrokenNewFileKeepsTheVassalOnItsOldGeneration) {
  std::string http = dir_.File("a.http");
  std::string ini = Vassal("a.ini", BuiltinVassal(http));
  StartEmperor();
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(5)));
  ClientLoop loop(http, "");
  std::ofstream(ini, std::ios::app) << "processes = many\n";
  ASSERT_TRUE(emperor_->WaitForLog("reload aborted", absl::Seconds(10))) << emperor_->Log();
  absl::SleepFor(absl::Milliseconds(300));
  // Still ready (the aborted reload re-announced it), so the fix is applied at once.
  EXPECT_NE(ReadStats(Stats()).find("\"ready\":1"), std::string::npos);
  std::ofstream(ini) << BuiltinVassal(http) << "processes = 3\n";
  ASSERT_TRUE(emperor_->WaitForLog("the new generation is accepting (3 workers)",
                                   absl::Seconds(10)))
      << emperor_->Log();
  loop.Stop();
  EXPECT_EQ(loop.failed(), 0) << loop.last_error();
  EXPECT_EQ(LoggedPids(emperor_->Log(), "emperor: vassal a.ini started ").size(), 1u);
}

TEST_F(EmperorTest, KilledVassalMasterIsRespawnedAtOnce) {
  std::string http = dir_.File("a.http");
  Vassal("a.ini", BuiltinVassal(http));
  StartEmperor();
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(5)));
  pid_t first = VassalPid(*emperor_, "a.ini");
  ASSERT_GT(first, 0);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(emperor_->WaitForLog("vassal a.ini killed by signal 9: respawning it",
                                   absl::Seconds(5)))
      << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(10), 2)) << emperor_->Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(5)));
  pid_t second = VassalPid(*emperor_, "a.ini");
  EXPECT_NE(second, first);
  EXPECT_TRUE(ProcessAlive(second));
  EXPECT_NE(ReadStats(Stats()).find("\"respawns\":1"), std::string::npos);
}

TEST_F(EmperorTest, SigtermFinishesTheRequestInFlightAndLeavesNoProcess) {
  std::string a = dir_.File("a.http");
  std::string b = dir_.File("b.http");
  Vassal("a.ini", BuiltinVassal(a));
  Vassal("b.ini", BuiltinVassal(b));
  std::string pidfile = dir_.File("emperor.pid");
  StartEmperor({"--emperor-pidfile", pidfile, "--emperor-procname", "kiln-emperor"});
  ASSERT_TRUE(WaitUntilHttpAnswers(a, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(b, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(5), 2));
  EXPECT_EQ(TempDir::ReadFile(pidfile), absl::StrCat(emperor_->pid(), "\n"));
  EXPECT_EQ(TempDir::ReadFile(absl::StrFormat("/proc/%d/comm", emperor_->pid())),
            "kiln-emperor\n");
  absl::StatusOr<Response> slow;
  std::thread client([&] { slow = HttpGet(a, "/sleep?s=1.5", absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(400));
  std::vector<pid_t> tree = LoggedPids(emperor_->Log(), "spawned kiln worker ");
  for (const char* id : {"a.ini", "b.ini"}) tree.push_back(VassalPid(*emperor_, id));
  ASSERT_EQ(tree.size(), 6u) << emperor_->Log();
  emperor_->Signal(SIGTERM);
  client.join();
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_EQ(slow->status, 200);
  auto status = emperor_->WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << emperor_->Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << emperor_->Log();
  for (pid_t pid : tree) EXPECT_FALSE(ProcessAlive(pid)) << pid;
  EXPECT_NE(access(pidfile.c_str(), F_OK), 0) << "the emperor pidfile stayed";
  EXPECT_NE(access(a.c_str(), F_OK), 0) << "vacuum left a socket";
}

TEST_F(EmperorTest, SighupReloadsEveryVassalGracefullyAndKeepsTheEmperorPid) {
  std::string a = dir_.File("a.http");
  std::string b = dir_.File("b.http");
  Vassal("a.ini", BuiltinVassal(a));
  Vassal("b.ini", BuiltinVassal(b));
  StartEmperor();
  ASSERT_TRUE(WaitUntilHttpAnswers(a, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(b, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(5), 2));
  pid_t emperor_pid = emperor_->pid();
  ClientLoop la(a, "");
  ClientLoop lb(b, "");
  absl::SleepFor(absl::Milliseconds(300));
  emperor_->Signal(SIGHUP);
  ASSERT_TRUE(emperor_->WaitForLog("the new generation is accepting", absl::Seconds(15), 2))
      << emperor_->Log();
  absl::SleepFor(absl::Milliseconds(300));
  la.Stop();
  lb.Stop();
  EXPECT_EQ(la.failed(), 0) << la.last_error();
  EXPECT_EQ(lb.failed(), 0) << lb.last_error();
  EXPECT_TRUE(emperor_->running());
  EXPECT_TRUE(ProcessAlive(emperor_pid));
  for (const char* id : {"a.ini", "b.ini"}) {
    EXPECT_EQ(LoggedPids(emperor_->Log(), absl::StrCat("emperor: vassal ", id, " started ")).size(),
              1u)
        << id << " was respawned instead of reloaded";
  }
  // USR1 logs each vassal's state.
  emperor_->Signal(SIGUSR1);
  EXPECT_TRUE(emperor_->WaitForLog("emperor: vassal b.ini pid", absl::Seconds(5)));
}

TEST_F(EmperorTest, EmperorKilledTakesItsVassalsWithIt) {
  std::string a = dir_.File("a.http");
  std::string b = dir_.File("b.http");
  Vassal("a.ini", BuiltinVassal(a));
  // b drops to nobody itself, which clears the parent-death signal the emperor set: the
  // emperor link's end-of-file stops it.
  Vassal("b.ini", BuiltinVassal(b) + "uid = nobody\ngid = nogroup\n");
  StartEmperor();
  ASSERT_TRUE(WaitUntilHttpAnswers(a, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(b, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(5), 2));
  std::vector<pid_t> tree = LoggedPids(emperor_->Log(), "spawned kiln worker ");
  tree.push_back(VassalPid(*emperor_, "a.ini"));
  tree.push_back(VassalPid(*emperor_, "b.ini"));
  ASSERT_EQ(tree.size(), 6u);
  emperor_->Signal(SIGKILL);
  ASSERT_TRUE(emperor_->WaitExit(absl::Seconds(5)).has_value());
  for (pid_t pid : tree) {
    EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(pid); }, absl::Seconds(5))) << pid;
  }
}

TEST_F(EmperorTest, PolledGlobSeesAContentChangeWithinTheSameMtimeAndSize) {
  // A wildcard in the directory part: no inotify watch, the emperor-freq scan finds changes.
  std::string http = dir_.File("a.http");
  std::string ini = Vassal("a.ini", BuiltinVassal(http) + "processes = 1\n");
  StartEmperor({"--emperor-freq", "1"}, dir_.path() + "/v*ssals/*.ini");
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("kiln is ready", absl::Seconds(5)));
  struct stat before;
  ASSERT_EQ(stat(ini.c_str(), &before), 0);
  std::ofstream(ini) << BuiltinVassal(http) << "processes = 2\n";  // same size
  struct timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};  // same mtime
  ASSERT_EQ(utimensat(AT_FDCWD, ini.c_str(), times, 0), 0);
  ASSERT_TRUE(emperor_->WaitForLog("vassal a.ini: its file changed: graceful reload",
                                   absl::Seconds(5)))
      << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("the new generation is accepting (2 workers)",
                                   absl::Seconds(10)))
      << emperor_->Log();
  EXPECT_EQ(emperor_->Log().find("with inotify"), std::string::npos) << emperor_->Log();
}

TEST_F(EmperorTest, TyrantRunsEachVassalAsItsFileOwnerAndRefusesRoot) {
  ASSERT_EQ(getuid(), 0u) << "tyrant mode needs root (the suite runs as root)";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0777), 0);  // the vassals bind their sockets here
  struct Owner {
    std::string name;
    uid_t uid;
    gid_t gid;
  };
  std::vector<Owner> owners = {{"n.ini", 65534, 65534}, {"d.ini", 1, 1}};
  for (const Owner& o : owners) {
    std::string path = Vassal(o.name, BuiltinVassal(dir_.File(o.name + ".http")));
    ASSERT_EQ(chown(path.c_str(), o.uid, o.gid), 0);
  }
  Vassal("root.ini", BuiltinVassal(dir_.File("root.http")));
  // A user's file asking for root: the vassal is already that user and cannot become root.
  std::string sneaky = Vassal("sneaky.ini", BuiltinVassal(dir_.File("sneaky.http")) + "uid = root\n");
  ASSERT_EQ(chown(sneaky.c_str(), 65534, 65534), 0);
  StartEmperor({"--emperor-tyrant", "--emperor-throttle", "5000"});
  for (const Owner& o : owners) {
    ASSERT_TRUE(WaitUntilHttpAnswers(dir_.File(o.name + ".http"), absl::Seconds(15)))
        << emperor_->Log();
    pid_t pid = VassalPid(*emperor_, o.name);
    std::string ids = absl::StrFormat("\t%d\t%d\t%d\t%d", o.uid, o.uid, o.uid, o.uid);
    EXPECT_EQ(ProcIds(pid, "Uid:"), "Uid:" + ids) << o.name;
    EXPECT_EQ(ProcIds(pid, "Gid:"),
              "Gid:" + absl::StrFormat("\t%d\t%d\t%d\t%d", o.gid, o.gid, o.gid, o.gid))
        << o.name;
  }
  ASSERT_TRUE(emperor_->WaitForLog("vassal sneaky.ini exited with code 1 before it was ready",
                                   absl::Seconds(10)))
      << emperor_->Log();
  std::string log = emperor_->Log();
  EXPECT_NE(log.find("emperor: vassal root.ini refused: "), std::string::npos) << log;
  EXPECT_EQ(VassalPid(*emperor_, "root.ini"), 0);
  struct stat st;
  EXPECT_NE(stat(dir_.File("root.http").c_str(), &st), 0);
  EXPECT_NE(ReadStats(Stats()).find("\"emperor_tyrant\":1"), std::string::npos);
}

TEST_F(EmperorTest, StatsOverHttpJsonMetricsWithAVassalLabelReadyAndLive) {
  ASSERT_EQ(MissingTool("/usr/bin/promtool", "prometheus"), "");
  std::string a_http = dir_.File("a.http");
  std::string b_http = dir_.File("b.http");
  Vassal("a.ini", BuiltinVassal(a_http));
  Vassal("b.ini", BuiltinVassal(b_http));
  // Its socket's directory does not exist: it dies before it is ever ready.
  Vassal("bad.ini", BuiltinVassal(dir_.File("missing/bad.http")));
  StartEmperor({"--emperor-stats-http", "--emperor-throttle", "200"});
  ASSERT_TRUE(WaitUntilHttpAnswers(a_http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(b_http, absl::Seconds(15))) << emperor_->Log();
  ASSERT_TRUE(emperor_->WaitForLog("vassal bad.ini exited with code 1 before it was ready",
                                   absl::Seconds(15)))
      << emperor_->Log();
  // A client that connects and says nothing holds nobody up.
  auto silent = Connect(Stats());
  ASSERT_TRUE(silent.ok()) << silent.status();

  // /ready: both good vassals are up; the blacklisted one is a failure of its own, shown in
  // the metrics, and does not hold the emperor's readiness.
  std::string ready_body;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = HttpGet(Stats(), "/ready");
        ready_body = r.ok() ? absl::StrCat(r->status, " ", r->body) : r.status().ToString();
        return r.ok() && r->status == 200;
      },
      absl::Seconds(10)))
      << ready_body;
  auto live = HttpGet(Stats(), "/live");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->status, 200);

  // The JSON document on any other path, uWSGI's keys.
  auto doc = HttpGet(Stats(), "/whatever?x=1");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->status, 200);
  EXPECT_EQ(HeaderOf(*doc, "Content-Type"), "application/json");
  EXPECT_TRUE(std::regex_search(doc->body,
                                std::regex(R"("id":"a.ini","pid":\d+,[^}]*"ready":1)")))
      << doc->body;
  EXPECT_TRUE(std::regex_search(doc->body,
                                std::regex(R"("id":"b.ini","pid":\d+,[^}]*"ready":1)")))
      << doc->body;
  EXPECT_TRUE(std::regex_search(
      doc->body, std::regex(R"("blacklist":\[\{"id":"bad.ini","throttle_level")")))
      << doc->body;

  // /metrics: Prometheus text that promtool accepts, a series per vassal file.
  auto metrics = HttpGet(Stats(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(HeaderOf(*metrics, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* line : {"kiln_vassal_up{vassal=\"a.ini\"} 1\n",
                           "kiln_vassal_ready{vassal=\"a.ini\"} 1\n",
                           "kiln_vassal_ready{vassal=\"b.ini\"} 1\n",
                           "kiln_vassal_loyal{vassal=\"b.ini\"} 1\n",
                           "kiln_vassal_blacklisted{vassal=\"a.ini\"} 0\n",
                           "kiln_vassal_blacklisted{vassal=\"bad.ini\"} 1\n",
                           "kiln_vassal_ready{vassal=\"bad.ini\"} 0\n",
                           "kiln_emperor_vassals 3\n", "kiln_emperor_blacklisted_vassals 1\n",
                           "kiln_emperor_ready 1\n"}) {
    EXPECT_NE(metrics->body.find(line), std::string::npos) << line << " in\n" << metrics->body;
  }
  const std::string file = dir_.Write("metrics.txt", metrics->body);
  EXPECT_EQ(Promtool(file, dir_.File("promtool.log")), 0)
      << TempDir::ReadFile(dir_.File("promtool.log")) << metrics->body;
  EXPECT_EQ(TempDir::ReadFile(dir_.File("promtool.log")), "");
  close(*silent);

  // A vassal file that appears is on its way up: /ready says which until it is.
  std::string c_http = dir_.File("c.http");
  Vassal("c.ini", BuiltinVassal(c_http) + "exec-as-user = sleep 1\n");
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = HttpGet(Stats(), "/ready");
        ready_body = r.ok() ? r->body : "";
        return r.ok() && r->status == 503;
      },
      absl::Seconds(10)))
      << emperor_->Log();
  EXPECT_NE(ready_body.find("c.ini"), std::string::npos) << ready_body;
  ASSERT_TRUE(WaitUntilHttpAnswers(c_http, absl::Seconds(15))) << emperor_->Log();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = HttpGet(Stats(), "/ready");
        return r.ok() && r->status == 200;
      },
      absl::Seconds(10)));
}

}  // namespace
}  // namespace kiln::testing
