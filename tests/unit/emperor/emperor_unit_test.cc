// core/emperor's pure parts: the order of a vassal's --ini arguments, the stats document's
// keys, the metrics and /ready built from it, uWSGI's millisecond throttles, and what counts
// as a changed vassal file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "core/emperor/emperor_options.h"
#include "core/emperor/emperor_stats.h"
#include "core/emperor/vassal_files.h"
#include "core/emperor/vassal_spawn.h"

namespace kiln::emperor {
namespace {

TEST(VassalCommand, CommonFilesAroundTheVassalsOwnThenVassalSet) {
  EmperorOptions o;
  o.inherit = {"/etc/kiln/base.ini"};
  o.include_before = {"/etc/kiln/before.ini"};
  o.include = {"/etc/kiln/after.ini"};
  o.set = {"processes=4", "env=A=B"};
  VassalCommand c = BuildVassalCommand("/usr/bin/kiln", "/srv/vassals/app.ini", o);
  std::vector<std::string> want = {"/usr/bin/kiln", "--ini", "/etc/kiln/base.ini",
                                   "--ini", "/etc/kiln/before.ini", "--ini",
                                   "/srv/vassals/app.ini", "--ini", "/etc/kiln/after.ini",
                                   "--processes", "4", "--env", "A=B"};
  EXPECT_EQ(c.argv, want);
  EXPECT_EQ(c.cwd, "/srv/vassals");
}

TEST(EmperorStats, HasUwsgisKeysInOrder) {
  EmperorStats s;
  s.version = "1.0";
  s.pid = 10;
  s.emperor = {"/srv/v"};
  VassalStats v;
  v.id = "a\"b.ini";
  v.pid = 11;
  v.ready = true;
  s.vassals.push_back(v);
  s.blacklist.push_back(BlacklistStats{"bad.ini", 2000, 2, 5, 6});
  std::string j = EmperorStatsJson(s);
  EXPECT_EQ(j.rfind("{\"version\":\"1.0\",\"pid\":10,\"uid\":0,\"gid\":0,\"cwd\":\"\","
                    "\"emperor\":[\"/srv/v\"],\"emperor_tyrant\":0,\"throttle_level\":0,"
                    "\"vassals\":[{\"id\":\"a\\\"b.ini\",\"pid\":11,\"born\":0,",
                    0),
            0u)
      << j;
  for (const char* key :
       {"last_mod", "last_heartbeat", "loyal", "\"ready\":1", "accepting", "last_loyal",
        "last_ready", "last_accepting", "first_run", "last_run", "cursed", "zerg",
        "on_demand", "monitor", "respawns"}) {
    EXPECT_NE(j.find(key), std::string::npos) << key;
  }
  EXPECT_NE(j.find("\"blacklist\":[{\"id\":\"bad.ini\",\"throttle_level\":2000,\"attempt\":2,"
                   "\"first_attempt\":5,\"last_attempt\":6}]}"),
            std::string::npos)
      << j;
}

// Two vassal files: one ready, one blacklisted and not running.
EmperorStats TwoVassals() {
  EmperorStats s;
  VassalStats good;
  good.id = "good.ini";
  good.pid = 11;
  good.ready = good.loyal = true;
  good.respawns = 2;
  good.born = 1700000000;
  good.last_mod = 1690000000;
  VassalStats bad;
  bad.id = "b\"ad.ini";
  bad.blacklisted = true;
  bad.attempt = 3;
  bad.throttle_ms = 4000;
  s.vassals = {good, bad};
  s.blacklist.push_back(BlacklistStats{bad.id, 4000, 3, 5, 6});
  return s;
}

TEST(EmperorStats, JsonListsRunningVassalsOnly) {
  std::string j = EmperorStatsJson(TwoVassals());
  EXPECT_NE(j.find("\"vassals\":[{\"id\":\"good.ini\",\"pid\":11,"), std::string::npos) << j;
  EXPECT_EQ(j.find("\"id\":\"b\\\"ad.ini\",\"pid\""), std::string::npos) << j;
}

TEST(EmperorMetrics, EveryVassalFileLabelledAndTheEmperorsTotals) {
  std::string m = EmperorMetricsText(TwoVassals());
  for (const char* line : {
           "# TYPE kiln_vassal_up gauge\n",
           "kiln_vassal_up{vassal=\"good.ini\"} 1\n",
           "kiln_vassal_up{vassal=\"b\\\"ad.ini\"} 0\n",
           "kiln_vassal_ready{vassal=\"good.ini\"} 1\n",
           "kiln_vassal_loyal{vassal=\"good.ini\"} 1\n",
           "# TYPE kiln_vassal_respawns_total counter\n",
           "kiln_vassal_respawns_total{vassal=\"good.ini\"} 2\n",
           "kiln_vassal_blacklisted{vassal=\"b\\\"ad.ini\"} 1\n",
           "kiln_vassal_blacklisted{vassal=\"good.ini\"} 0\n",
           "kiln_vassal_failed_starts{vassal=\"b\\\"ad.ini\"} 3\n",
           "kiln_vassal_throttle_seconds{vassal=\"b\\\"ad.ini\"} 4\n",
           "kiln_vassal_start_time_seconds{vassal=\"good.ini\"} 1700000000\n",
           "kiln_vassal_last_modified_timestamp_seconds{vassal=\"good.ini\"} 1690000000\n",
           "kiln_emperor_vassals 2\n",
           "kiln_emperor_blacklisted_vassals 1\n",
           "kiln_emperor_ready 1\n",
       }) {
    EXPECT_NE(m.find(line), std::string::npos) << line << " in\n" << m;
  }
}

TEST(EmperorReadiness, WaitsForStartingVassalsNotForBlacklistedOrReloadingOnes) {
  EmperorStats s = TwoVassals();
  EXPECT_TRUE(EmperorReadiness(s).ready);
  s.vassals[0].ready = false;  // reloading: still serves on its old generation
  EXPECT_TRUE(EmperorReadiness(s).ready);
  VassalStats starting;
  starting.id = "new.ini";
  starting.pid = 12;
  s.vassals.push_back(starting);
  process::Readiness r = EmperorReadiness(s);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.why, "1 of 3 vassal(s) starting: new.ini");
  s.vassals.pop_back();
  s.stopping = true;
  EXPECT_EQ(EmperorReadiness(s).why, "stopping");
}

TEST(EmperorStatsHttp, RoutesLikeTheInstanceStatsServer) {
  EmperorStats s = TwoVassals();
  process::StatsPages pages{[&] { return EmperorStatsJson(s); },
                            [&] { return EmperorMetricsText(s); },
                            [&] { return EmperorReadiness(s); }};
  std::string any = process::AnswerStatsRequest("GET /anything HTTP/1.1\r\n\r\n", pages);
  EXPECT_EQ(any.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << any;
  EXPECT_NE(any.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(any.find("\"vassals\":[{\"id\":\"good.ini\""), std::string::npos);
  std::string metrics = process::AnswerStatsRequest("GET /metrics HTTP/1.1\r\n\r\n", pages);
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  s.vassals[0].loyal = false;  // starting
  std::string ready = process::AnswerStatsRequest("GET /ready HTTP/1.1\r\n\r\n", pages);
  EXPECT_EQ(ready.rfind("HTTP/1.0 503 Service Unavailable\r\n", 0), 0u) << ready;
  EXPECT_NE(ready.find("not ready: 1 of 2 vassal(s) starting: good.ini\n"), std::string::npos);
  EXPECT_EQ(process::AnswerStatsRequest("garbage", pages).rfind("HTTP/1.0 400", 0), 0u);
}

TEST(EmperorOptions, ThrottleIsMillisecondsWhenBareAsInUwsgi) {
  EXPECT_EQ(*ParseThrottle("emperor-throttle", "1000"), absl::Seconds(1));
  EXPECT_EQ(*ParseThrottle("emperor-throttle", "2s"), absl::Seconds(2));
  EXPECT_FALSE(ParseThrottle("emperor-throttle", "0").ok());
  EXPECT_FALSE(ParseThrottle("emperor-throttle", "soon").ok());
}

TEST(VassalFiles, AChangeOfContentWithinTheSameMtimeCounts) {
  char tmpl[] = "/tmp/kiln-emp-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string path = dir + "/a.ini";
  std::ofstream(path) << "[uwsgi]\nprocesses = 1\n";
  std::ofstream(dir + "/.hidden.ini") << "x";
  std::ofstream(dir + "/notes.txt") << "x";
  auto before = ReadFileState(path, false, false);
  ASSERT_TRUE(before.ok());
  std::ofstream(path) << "[uwsgi]\nprocesses = 2\n";  // same size
  struct timespec times[2] = {{0, UTIME_OMIT}, before->mtime_ns == 0 ? timespec{0, 0}
                                                : timespec{before->mtime_ns / 1000000000,
                                                           before->mtime_ns % 1000000000}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);  // same mtime too
  auto after = ReadFileState(path, false, false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->mtime_ns, before->mtime_ns);
  EXPECT_EQ(after->size, before->size);
  EXPECT_TRUE(Changed(*before, *after));
  std::vector<VassalFile> files = ListVassalFiles({dir});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, path);
  EXPECT_FALSE(ReadFileState(dir + "/missing.ini", false, false).ok());
  std::system(("rm -rf " + dir).c_str());
}

TEST(Tyrant, RootOwnedFilesAreRefused) {
  FileState fs;
  fs.uid = 0;
  fs.gid = 0;
  EXPECT_FALSE(TyrantIdentity("/srv/v/a.ini", fs, false).ok());
  fs.uid = 65534;
  fs.gid = 65534;
  auto id = TyrantIdentity("/srv/v/a.ini", fs, false);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->uid, 65534u);
  for (gid_t g : id->groups) EXPECT_NE(g, 0u);
  fs.symlink = true;
  fs.link_uid = 1;  // someone else's link to nobody's file
  EXPECT_FALSE(TyrantIdentity("/srv/v/a.ini", fs, false).ok());
}

}  // namespace
}  // namespace kiln::emperor
