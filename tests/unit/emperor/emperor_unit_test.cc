// core/emperor's pure parts: the order of a vassal's --ini arguments, the stats document's
// keys, uWSGI's millisecond throttles, and what counts as a changed vassal file.
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
