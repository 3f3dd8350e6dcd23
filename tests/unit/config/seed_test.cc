// The deployment file of the foundation issue, byte for byte (conf/seed.ini), read with its
// env file at a temporary path, and without it.
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_replace.h"
#include "core/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace kiln::config {
namespace {

using ::testing::ElementsAre;
using testing::FixedHost;
using ::testing::HasSubstr;
using testing::Lines;
using testing::TempDir;

constexpr char kEnvPath[] = "/home/centos/pythonservice/env.txt";

// The file exactly as the issue gives it.
constexpr char kSeed[] = R"([uwsgi]
module = app:app # the entry point
for-readline = /home/centos/pythonservice/env.txt # the env. variable to set which are being used by application
  env = %(_)
endfor =
master = true # Should have a master process
processes = 16 # Number of processes you want to launch
plugins = python36, logfile # plugins that uWSGI should load for running our application
uid = centos # userID
socket = /run/uwsgi/pythonservice.sock # Socket file, where Nginx will route the requests
chown-socket = centos:nginx # as we are running as a centos user, making it the owner of the socket file
chmod-socket = 666
vacuum = true # remove the socket file when the process stops
single-interpreter = true
reload-mercy = 30000 # how long uWSGI should wait before killing the workers when you restart your application
worker-reload-mercy = 30000
die-on-term = true
chdir = /home/centos/pythonservice/ # location of our codebase
logger = file:/var/log/pythonservice/app.log # path to log files
req-logger = file:/var/log/pythonservice/apprequest.log
)";

std::string ReadSource(const std::string& rel) {
  const char* src = std::getenv("KILN_SOURCE_DIR");
  if (src == nullptr) src = KILN_TEST_SOURCE_DIR;
  std::ifstream in(std::string(src) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SeedFile, ConfSeedIsTheIssueFileByteForByte) { EXPECT_EQ(ReadSource("conf/seed.ini"), kSeed); }

TEST(SeedFile, ReadsWithEveryValueUwsgiWouldResolve) {
  TempDir dir;
  std::string env = dir.Write("env.txt", ReadSource("conf/seed-env.txt"));
  std::string ini = dir.Write("seed.ini", absl::StrReplaceAll(kSeed, {{kEnvPath, env}}));
  OptionRegistry registry = OptionRegistry::WithCoreOptions();
  Diagnostics diag;
  FixedHost host;
  auto raw = ReadConfig({"--ini", ini}, registry, diag, host);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(
      Lines(*raw),
      ElementsAre(
          "module = app:app", "env = APP_CONFIG=/home/centos/pythonservice/config/prod.properties",
          "env = APP_ENV=production", "env = DATABASE_URL=postgresql://app@db.internal:5432/app",
          "master = true", "processes = 16", "plugins = python36, logfile", "uid = centos",
          "socket = /run/uwsgi/pythonservice.sock", "chown-socket = centos:nginx",
          "chmod-socket = 666", "vacuum = true", "single-interpreter = true",
          "reload-mercy = 30000", "worker-reload-mercy = 30000", "die-on-term = true",
          "chdir = /home/centos/pythonservice/", "logger = file:/var/log/pythonservice/app.log",
          "req-logger = file:/var/log/pythonservice/apprequest.log"));
  auto config = Resolve(*raw, registry, nullptr, diag);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->GetNumber("processes"), 16);
  EXPECT_EQ(config->GetDuration("reload-mercy"), absl::Seconds(30000));
  EXPECT_THAT(config->GetList("plugins"), ElementsAre("python36", "logfile"));
  EXPECT_EQ(config->GetList("env").size(), 3u);
  EXPECT_EQ(config->GetString("chmod-socket"), "666");
}

TEST(SeedFile, WithoutItsEnvFileFailsNamingTheLineAndPath) {
  if (std::ifstream(kEnvPath).good()) GTEST_SKIP() << kEnvPath << " exists on this machine";
  TempDir dir;
  std::string ini = dir.Write("seed.ini", kSeed);
  OptionRegistry registry = OptionRegistry::WithCoreOptions();
  Diagnostics diag;
  auto raw = ReadConfig({ini}, registry, diag);
  ASSERT_FALSE(raw.ok());
  EXPECT_EQ(std::string(raw.status().message()), ini + ":3: for-readline cannot read `" + kEnvPath +
                                                     "`: open(" + kEnvPath +
                                                     "): No such file or directory");
}

}  // namespace
}  // namespace kiln::config
