// `kiln top` in a real terminal: tmux runs it against a live kiln's stats address; the test
// sends requests, reads the screen with capture-pane, and quits it with `q`.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

// Runs a shell command; its stdout.
std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(KilnTop, ShowsWorkersAndCountsUnderTmuxAndQuitsOnQ) {
  ASSERT_EQ(MissingTool("/usr/bin/tmux", "tmux"), "");
  TempDir dir;
  const std::string http = dir.File("h.sock");
  const std::string stats = dir.File("st.sock");
  KilnProcess kiln({"--master", "--processes", "2", "--http-socket", http, "--stats", stats,
                    "--builtin-handler"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(10))) << kiln.Log();
  // A private tmux server (-S) so nothing else's sessions are touched; killed at the end.
  const std::string tmux = absl::StrCat("/usr/bin/tmux -S ", dir.File("tmux"));
  const std::string done = dir.File("top.exit");
  const std::string cmd = absl::StrCat(KilnBinary(), " top ", stats, "; echo $? > ", done);
  ASSERT_EQ(system(absl::StrCat(tmux, " new-session -d -s top -x 120 -y 30 '", cmd, "'").c_str()),
            0);
  for (int i = 0; i < 24; ++i) ASSERT_TRUE(HttpGet(http, "/echo").ok());  // 25 with the probe
  std::string screen;
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    screen = Shell(tmux + " capture-pane -p -t top");
    if (screen.find("requests: 25 ") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_NE(screen.find("requests: 25 "), std::string::npos) << screen;
  EXPECT_NE(screen.find("WID"), std::string::npos) << screen;
  EXPECT_NE(screen.find("listen queue: 0/100"), std::string::npos) << screen;
  auto pids = kiln.WorkerPids();
  ASSERT_EQ(pids.size(), 2u);
  for (const auto& [id, pid] : pids) {  // a row per worker: id, pid, status, requests
    EXPECT_TRUE(std::regex_search(
        screen, std::regex(absl::StrCat("\\n +", id, " +", pid, " +idle +[0-9]+ "))))
        << screen;
  }
  EXPECT_NE(screen.find("2 idle"), std::string::npos) << screen;
  ASSERT_EQ(system(absl::StrCat(tmux, " send-keys -t top q").c_str()), 0);
  EXPECT_TRUE(WaitForFile(done, "0", absl::Seconds(5))) << Shell(tmux + " capture-pane -p -t top");
  (void)system(absl::StrCat(tmux, " kill-server 2>/dev/null").c_str());
}

}  // namespace
}  // namespace kiln::testing
