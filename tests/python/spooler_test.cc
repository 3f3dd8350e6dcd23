// The spooler end to end (docs/spooler.md): a real kiln with the python plugin, whose app
// writes tasks with uwsgi.spool() from a request and whose uwsgi.spooler callable records each
// task it runs in a file. Every wait is bounded; every kiln is stopped by its pid.
#include <dirent.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The app: GET /spool?ids=a,b,c writes one task per id; the spooler callable appends the id
// to ran.txt, then answers by the id: `retry*` SPOOL_RETRY on its first run, `raise*` raises
// on its first run, `slow*` sleeps 30 s on its first run, anything else SPOOL_OK.
constexpr char kApp[] = R"PY(
import os, time, uwsgi
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
RAN = os.path.join(HERE, 'ran.txt')

def spooler(task):
    tid = task[b'id'].decode()
    with open(RAN, 'a') as f:
        f.write(tid + '\n')
    time.sleep(0.02)  # long enough for both spooler processes to reach the same files
    with open(RAN) as f:
        runs = f.read().split().count(tid)
    if tid.startswith('retry') and runs == 1:
        return uwsgi.SPOOL_RETRY
    if tid.startswith('raise') and runs == 1:
        raise RuntimeError('task %s failed on purpose' % tid)
    if tid.startswith('slow') and runs == 1:
        time.sleep(30)  # spooler-harakiri ends it
    return uwsgi.SPOOL_OK

uwsgi.spooler = spooler

def application(environ, start_response):
    ids = parse_qs(environ.get('QUERY_STRING', '')).get('ids', [''])[0].split(',')
    names = [uwsgi.spool({'id': i}) for i in ids if i]
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'\n'.join(names)]
)PY";

struct Spooled {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string spool = dir.File("spool");
  std::string ran = dir.File("ran.txt");
  std::unique_ptr<KilnProcess> kiln;

  // `extra_ini` follows the spooler lines; spooler-processes is 2 unless it sets it.
  void Start(std::string extra_ini = "", const char* app = kApp) {
    if (extra_ini.find("spooler-processes") == std::string::npos) {
      extra_ini += "spooler-processes = 2\n";
    }
    TempDir::WriteFile(dir.File("app.py"), app);
    std::string ini = dir.File("app.ini");
    TempDir::WriteFile(ini, "[uwsgi]\nstrict = true\nmaster = true\nprocesses = 2\nwsgi-file = " +
                                dir.File("app.py") + "\nspooler = " + spool +
                                "\nspooler-frequency = 1\n" + extra_ini);
    kiln = std::make_unique<KilnProcess>(
        std::vector<std::string>{"--http-socket", sock, "--plugin-dir", PluginDir(),
                                 "--plugins", "python", ini},
        dir.File("kiln.log"));
    kiln->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    ASSERT_TRUE(kiln->Start());
    ASSERT_TRUE(WaitFor200(sock, "/", absl::Seconds(15))) << kiln->Log();
  }

  // How many times each id ran.
  std::map<std::string, int> Runs() const {
    std::map<std::string, int> out;
    for (absl::string_view id :
         absl::StrSplit(TempDir::ReadFile(ran), '\n', absl::SkipEmpty())) {
      ++out[std::string(id)];
    }
    return out;
  }
  int TotalRuns() const {
    int n = 0;
    for (const auto& [id, count] : Runs()) n += count;
    return n;
  }
  bool WaitForRuns(int total, absl::Duration timeout) const {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (TotalRuns() >= total) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }
  // Task files still in the spool directory.
  int TaskFiles() const {
    int n = 0;
    DIR* d = opendir(spool.c_str());
    if (d == nullptr) return -1;
    while (struct dirent* e = readdir(d)) {
      if (std::string(e->d_name).rfind("uwsgi_spoolfile_on_", 0) == 0) ++n;
    }
    closedir(d);
    return n;
  }
  void Stop() {
    kiln->Signal(SIGTERM);
    EXPECT_EQ(kiln->WaitExit(absl::Seconds(20)), 0) << kiln->Log();
  }
};

// 20 tasks from one request, two spooler processes on the directory: each task runs once.
TEST(Spooler, TwentyTasksRunExactlyOnceWithTwoSpoolerProcesses) {
  Spooled s;
  s.Start();
  std::string ids;
  for (int i = 0; i < 20; ++i) ids += (i ? "," : "") + std::to_string(i);
  auto r = HttpGet(s.sock, "/spool?ids=" + ids);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << s.kiln->Log();
  // uwsgi.spool() answers each task file's path, under the spooler directory's real path.
  std::vector<std::string> names = absl::StrSplit(r->body, '\n');
  ASSERT_EQ(names.size(), 20u) << r->body;
  char real[PATH_MAX];
  ASSERT_NE(realpath(s.spool.c_str(), real), nullptr);
  EXPECT_THAT(names[0], ::testing::StartsWith(std::string(real) + "/uwsgi_spoolfile_on_"));
  ASSERT_TRUE(s.WaitForRuns(20, absl::Seconds(20))) << s.TotalRuns() << "\n" << s.kiln->Log();
  absl::SleepFor(absl::Milliseconds(2500));  // two more scans: nothing may run twice
  std::map<std::string, int> runs = s.Runs();
  EXPECT_EQ(runs.size(), 20u);
  for (const auto& [id, count] : runs) EXPECT_EQ(count, 1) << "task " << id << "\n" << s.kiln->Log();
  EXPECT_EQ(s.TaskFiles(), 0);
  EXPECT_EQ(s.kiln->Log().find("spawned the kiln spooler on dir") !=
                s.kiln->Log().rfind("spawned the kiln spooler on dir"),
            true)
      << "two spooler processes";
  EXPECT_THAT(s.kiln->Log(), HasSubstr("done with task uwsgi_spoolfile_on_"));
  s.Stop();
  EXPECT_THAT(s.kiln->Log(), HasSubstr("spooler on " + std::string(real)));
}

// SPOOL_RETRY keeps the task for a later scan; an exception is logged with its traceback and
// the task is retried too (uWSGI's python plugin answers -1 for both).
TEST(Spooler, RetryAndExceptionRunTheTaskAgainOnALaterScan) {
  Spooled s;
  s.Start();
  auto r = HttpGet(s.sock, "/spool?ids=retry1,raise1,plain");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << s.kiln->Log();
  ASSERT_TRUE(s.WaitForRuns(5, absl::Seconds(20))) << s.TotalRuns() << "\n" << s.kiln->Log();
  absl::SleepFor(absl::Milliseconds(2500));
  std::map<std::string, int> runs = s.Runs();
  EXPECT_EQ(runs["retry1"], 2) << s.kiln->Log();
  EXPECT_EQ(runs["raise1"], 2) << s.kiln->Log();
  EXPECT_EQ(runs["plain"], 1) << s.kiln->Log();
  EXPECT_EQ(s.TaskFiles(), 0);
  EXPECT_THAT(s.kiln->Log(), HasSubstr("RuntimeError: task raise1 failed on purpose"));
  EXPECT_THAT(s.kiln->Log(), HasSubstr("it stays for the next scan"));
  s.Stop();
}

// A spool file planted as a symlink (to a well-formed task outside the directory) is never
// opened through the link: refused in the log, never run, neither it nor its target removed.
TEST(Spooler, SpoolFilePlantedAsSymlinkIsRefused) {
  Spooled s;
  ASSERT_EQ(mkdir(s.spool.c_str(), 0700), 0);
  std::string vars;
  AppendUwsgiVar(&vars, "id", "planted");
  std::string task;
  task.push_back(17);
  task.push_back(static_cast<char>(vars.size() & 0xff));
  task.push_back(static_cast<char>(vars.size() >> 8));
  task.push_back(0);
  task += vars;
  std::string target = s.dir.File("outside_task");
  TempDir::WriteFile(target, task);
  std::string link = s.spool + "/uwsgi_spoolfile_on_planted";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  s.Start();
  // A real task written afterwards runs: the spooler scanned past the link.
  auto r = HttpGet(s.sock, "/spool?ids=real");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(s.WaitForRuns(1, absl::Seconds(20))) << s.kiln->Log();
  absl::SleepFor(absl::Milliseconds(1500));  // a scan or two more
  EXPECT_EQ(s.Runs().count("planted"), 0u) << s.kiln->Log();
  EXPECT_TRUE(s.kiln->WaitForLog("it is a symbolic link", absl::Seconds(5))) << s.kiln->Log();
  EXPECT_THAT(s.kiln->Log(), HasSubstr("refusing spool file " + link));
  struct stat st;
  EXPECT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_EQ(TempDir::ReadFile(target), task);
  s.Stop();
}

// spooler-harakiri: a task running longer is killed with its spooler process, which the
// master respawns; the task stayed in the directory and runs again.
TEST(Spooler, HarakiriKillsALongTaskWhichRunsAgain) {
  Spooled s;
  s.Start("spooler-harakiri = 1\n");
  auto r = HttpGet(s.sock, "/spool?ids=slow1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(s.kiln->WaitForLog("HARAKIRI: spooler on", absl::Seconds(15))) << s.kiln->Log();
  ASSERT_TRUE(s.WaitForRuns(2, absl::Seconds(15))) << s.kiln->Log();
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(s.Runs()["slow1"], 2) << s.kiln->Log();
  EXPECT_EQ(s.TaskFiles(), 0);
  EXPECT_THAT(s.kiln->Log(), HasSubstr("ran a task longer than spooler-harakiri (1s)"));
  s.Stop();
}

// spooler-ordered: tasks run in name order, a priority subdirectory (digits) first; files
// planted before the start as uWSGI would have written them.
TEST(Spooler, OrderedRunsPrioritySubdirectoriesFirstThenByName) {
  Spooled s;
  ASSERT_EQ(mkdir(s.spool.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((s.spool + "/5").c_str(), 0700), 0);
  auto plant = [&](const std::string& name, const std::string& id) {
    std::string vars;
    AppendUwsgiVar(&vars, "id", id);
    std::string task{static_cast<char>(17), static_cast<char>(vars.size()), 0, 0};
    TempDir::WriteFile(s.spool + "/" + name, task + vars);
  };
  plant("uwsgi_spoolfile_on_h_10", "ten");
  plant("uwsgi_spoolfile_on_h_9", "nine");
  plant("uwsgi_spoolfile_on_h_2", "two");
  plant("5/uwsgi_spoolfile_on_h_1", "prio");
  s.Start("spooler-ordered = true\nspooler-processes = 1\n");
  ASSERT_TRUE(s.WaitForRuns(4, absl::Seconds(15))) << s.kiln->Log();
  EXPECT_EQ(TempDir::ReadFile(s.ran), "prio\ntwo\nnine\nten\n") << s.kiln->Log();
  s.Stop();
}

// As root with `uid`: the spooler runs as the workers' user (the tasks' output is theirs), and
// a task file owned by anyone else, root included, is refused, never run.
TEST(Spooler, RunsAsTheWorkersUserAndRefusesAnotherUsersTaskFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (uid)";
  struct passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  Spooled s;
  ASSERT_EQ(chmod(s.dir.path().c_str(), 0777), 0);
  s.Start("uid = nobody\ngid = " + std::to_string(nobody->pw_gid) + "\n");
  std::string vars;
  AppendUwsgiVar(&vars, "id", "rootowned");
  std::string task{static_cast<char>(17), static_cast<char>(vars.size()), 0, 0};
  TempDir::WriteFile(s.spool + "/uwsgi_spoolfile_on_rootowned", task + vars);  // by root
  // Writable by all, so that only the owner check stands between it and the spooler.
  ASSERT_EQ(chmod((s.spool + "/uwsgi_spoolfile_on_rootowned").c_str(), 0666), 0);
  auto r = HttpGet(s.sock, "/spool?ids=mine");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << s.kiln->Log();
  ASSERT_TRUE(s.WaitForRuns(1, absl::Seconds(20))) << s.kiln->Log();
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(s.Runs().count("rootowned"), 0u) << s.kiln->Log();
  EXPECT_EQ(s.Runs()["mine"], 1) << s.kiln->Log();
  EXPECT_THAT(s.kiln->Log(), HasSubstr("it belongs to uid 0, not to the spooler's user"))
      << s.kiln->Log();
  struct stat st;
  ASSERT_EQ(stat(s.ran.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody->pw_uid);
  ASSERT_EQ(stat(s.spool.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody->pw_uid);  // made by the master after the privilege drop
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  s.Stop();
}

// uwsgidecorators' @spool, with and without pass_arguments, on kiln's uwsgi module.
constexpr char kDecoratedApp[] = R"PY(
import os
from uwsgidecorators import spool

RAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ran.txt')

@spool(pass_arguments=True)
def with_arguments(tid, suffix=''):
    with open(RAN, 'a') as f:
        f.write(tid + suffix + '\n')

@spool
def with_dict(args):
    with open(RAN, 'a') as f:
        f.write(args['tid'] + '\n')

def application(environ, start_response):
    if environ.get('QUERY_STRING'):
        with_arguments('args', suffix='-kw')
        with_dict({'tid': 'dict'})
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
)PY";

TEST(Spooler, UwsgidecoratorsSpoolDecorator) {
  Spooled s;
  s.Start("", kDecoratedApp);
  auto r = HttpGet(s.sock, "/?go=1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << s.kiln->Log();
  ASSERT_TRUE(s.WaitForRuns(2, absl::Seconds(15))) << s.kiln->Log();
  absl::SleepFor(absl::Milliseconds(1500));
  std::map<std::string, int> runs = s.Runs();
  EXPECT_EQ(runs["args-kw"], 1) << s.kiln->Log();
  EXPECT_EQ(runs["dict"], 1) << s.kiln->Log();
  EXPECT_EQ(s.TaskFiles(), 0);
  s.Stop();
}

}  // namespace
}  // namespace kiln::testing
