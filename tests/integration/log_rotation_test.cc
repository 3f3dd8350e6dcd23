// log-maxsize with the real kiln binary: several workers and the master append to one log file
// while the master rotates it several times; afterwards every request line is found exactly
// once across the current and the rotated files, whole, and log-backupcount keeps the newest.
#include <dirent.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

// Names in `dir` that start with `prefix`.
std::vector<std::string> FilesStartingWith(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.starts_with(prefix)) out.push_back(name);
  }
  closedir(d);
  return out;
}

struct LoadResult {
  int sent = 0;
  int failed = 0;
};

// Sends requests /line-T-I from `clients` threads until `rotated` reports at least `want`
// rotated files (bounded at 60 s and 60000 requests).
LoadResult LoadUntilRotated(const std::string& sock, int clients, size_t want,
                            const std::function<size_t()>& rotated) {
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load() && i < 60000 / clients; ++i) {
        if (!HttpGet(sock, absl::StrCat("/line-", t, "-", i)).ok()) ++failed;
        ++sent;
      }
    });
  }
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && rotated() < want) absl::SleepFor(absl::Milliseconds(50));
  absl::SleepFor(absl::Milliseconds(300));  // some lines land around the last rename too
  stop = true;
  for (std::thread& t : threads) t.join();
  return {sent.load(), failed.load()};
}

// The request lines of `text` by request path, and the lines that are torn or unknown.
void CollectLines(const std::string& text, std::map<std::string, int>* seen,
                  std::set<std::string>* pids, std::vector<std::string>* bad) {
  // uWSGI's default request line, whole: a torn or interleaved one does not match.
  static const std::regex kRequest(
      R"(^\[pid: (\d+)\|app: \d+\|req: \d+/\d+\] \S* \(\) \{\d+ vars in \d+ bytes\} )"
      R"(\[[^\]]+\] GET (/\S*) => generated \d+ bytes in \d+ msecs )"
      R"(\(HTTP/1\.[01] 200\) \d+ headers in \d+ bytes \(\d+ switches on core \d+\)$)");
  std::istringstream in(text);
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, kRequest)) {
      if (m[2].str().starts_with("/line-")) ++(*seen)[m[2].str()];
      pids->insert(m[1].str());
    } else if (line.find("/line-") != std::string::npos || line.find("[pid:") != std::string::npos) {
      bad->push_back(line);
    }
  }
  if (!text.empty() && text.back() != '\n') bad->push_back("(file ends inside a line)");
}

struct Variant {
  const char* name;
  std::string (*ini)(const TempDir& dir);
  const char* request_file;  // the file request lines go to
  const char* server_file;   // the file master lines go to
};

TEST(KilnLogRotation, EveryLineIsKeptOnceAndWholeWhileSeveralProcessesLogAcrossRotations) {
  const Variant variants[] = {
      {"logto (the core's file sink and stdio)",
       [](const TempDir& dir) {
         return absl::StrCat("logto = ", dir.File("app.log"), "\n");
       },
       "app.log", "app.log"},
      {"logger/req-logger = file: (the logfile plugin)",
       [](const TempDir& dir) {
         return absl::StrCat("plugins = logfile\nlogger = file:", dir.File("server.log"),
                             "\nreq-logger = file:", dir.File("req.log"), "\n");
       },
       "req.log", "server.log"},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    TempDir dir;
    std::string sock = dir.File("s.sock");
    std::string ini = dir.Write(
        "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 4\nbuiltin-handler = true\n",
                                "http-socket = ", sock, "\nlog-maxsize = 8000\n", v.ini(dir)));
    KilnProcess kiln({ini}, dir.File("kiln.out"));
    ASSERT_TRUE(kiln.Start());
    ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
    const std::string base = v.request_file;
    auto rotated = [&] { return FilesStartingWith(dir.path(), base + ".").size(); };
    LoadResult load = LoadUntilRotated(sock, 6, 3, rotated);
    // WaitUntilHttpAnswers' own requests are not /line-: not counted.
    EXPECT_EQ(load.failed, 0);
    kiln.Signal(SIGTERM);
    ASSERT_TRUE(kiln.WaitExit(absl::Seconds(15)).has_value());

    std::vector<std::string> files = FilesStartingWith(dir.path(), base);
    EXPECT_GE(files.size(), 4u) << "expected the current file and at least 3 rotated ones";
    std::map<std::string, int> seen;
    std::set<std::string> pids;
    std::vector<std::string> bad;
    for (const std::string& f : files) {
      SCOPED_TRACE(f);
      std::string text = TempDir::ReadFile(dir.File(f));
      if (f != base) {
        // A rotated file passed the limit; lines written after the rename add a little.
        EXPECT_GT(text.size(), 8000u);
      }
      CollectLines(text, &seen, &pids, &bad);
    }
    EXPECT_TRUE(bad.empty()) << bad.size() << " torn or unknown lines, first: " << bad[0];
    int total = 0, duplicated = 0;
    for (const auto& [path, n] : seen) {
      total += n;
      if (n != 1) ++duplicated;
    }
    EXPECT_EQ(duplicated, 0);
    EXPECT_EQ(total, load.sent) << "request lines found across " << files.size() << " files";
    EXPECT_GE(pids.size(), 2u) << "lines from several worker processes";
    std::printf("%s: %d request lines, %zu files, %zu worker pids\n", v.name, total,
                files.size(), pids.size());
    std::string server_logs;
    for (const std::string& f : FilesStartingWith(dir.path(), v.server_file)) {
      server_logs += TempDir::ReadFile(dir.File(f));
    }
    EXPECT_NE(server_logs.find(absl::StrCat("log-maxsize: ", dir.File(base))),
              std::string::npos)
        << server_logs.substr(0, 4000);
  }
}

TEST(KilnLogRotation, BackupCountKeepsOnlyTheNewestRotatedFiles) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string log = dir.File("app.log");
  // An old backup that log-backupcount must remove, and a file of another name it must keep.
  dir.Write("app.log.1000000000", "old\n");
  dir.Write("app.log.keep", "not a backup\n");
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nbuiltin-handler = true\n",
                              "http-socket = ", sock, "\nlogto = ", log,
                              "\nlog-maxsize = 8000\nlog-backupcount = 2\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  LoadResult load = LoadUntilRotated(sock, 2, 1, [&] {
    return static_cast<size_t>(TempDir::ReadFile(log).find("removed") != std::string::npos);
  });
  // Three more rotations: at most two backups stay however many happen.
  int rotations = 0;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (rotations < 3 && absl::Now() < deadline) {
    for (int i = 0; i < 80; ++i) ASSERT_TRUE(HttpGet(sock, "/more").ok());
    absl::SleepFor(absl::Milliseconds(1100));
    ++rotations;
  }
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(15)).has_value());
  EXPECT_EQ(load.failed, 0);
  std::vector<std::string> files = FilesStartingWith(dir.path(), "app.log.");
  std::set<std::string> names(files.begin(), files.end());
  EXPECT_EQ(names.count("app.log.1000000000"), 0u);
  EXPECT_EQ(names.count("app.log.keep"), 1u);
  EXPECT_EQ(names.size(), 3u) << "two backups and app.log.keep";
}

}  // namespace
}  // namespace kiln::testing
