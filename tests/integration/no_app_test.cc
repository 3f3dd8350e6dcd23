// The real kiln binary with no application configured: under need-app (the default) it refuses
// to start and names the likely typo, suggested from every installed plugin's options (the
// python plugin is installed in the build tree, not loaded); need-app = false starts and
// answers 500 as uWSGI does; the built-in test handler answers only when builtin-handler asks
// for it, and never shows request headers.
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

// Starts kiln and returns its exit code once it stopped (-1: still running after 20 s).
int ExitCodeOf(KilnProcess& kiln) {
  if (!kiln.Start()) return -2;
  std::optional<int> status = kiln.WaitExit(absl::Seconds(20));
  if (!status.has_value()) return -1;
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

TEST(KilnNoApp, ATypoedAppOptionRefusesToStartAndNamesTheOption) {
  TempDir dir;
  const std::string sock = dir.File("s.sock");
  const std::string ini = dir.Write(
      "app.ini", "[uwsgi]\nmaster = true\nhttp-socket = " + sock + "\nmoduel = app:app\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  EXPECT_EQ(ExitCodeOf(kiln), 1) << kiln.Log();
  const std::string log = kiln.Log();
  EXPECT_TRUE(Has(log,
                  "no application is configured: nothing answers requests (need-app = "
                  "true)"))
      << log;
  EXPECT_TRUE(Has(log,
                  "app.ini:4: `moduel` is not an option; did you mean `module` (python "
                  "plugin)?"))
      << log;
  // The start-up warning suggests it too, though no plugin was loaded.
  EXPECT_TRUE(Has(log, "(did you mean `module` (python plugin)?); kept as a placeholder")) << log;
  EXPECT_FALSE(Has(log, "kiln is ready")) << log;
  EXPECT_NE(access(sock.c_str(), F_OK), 0) << "the refused start left its socket";
}

TEST(KilnNoApp, NoAppAndNoTypoStillRefusesAndSaysWhatToSet) {
  TempDir dir;
  KilnProcess kiln({"--master", "--http-socket", dir.File("s.sock")}, dir.File("kiln.log"));
  EXPECT_EQ(ExitCodeOf(kiln), 1) << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(), "no application is configured")) << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(), "`builtin-handler = true`")) << kiln.Log();
}

TEST(KilnNoApp, PythonLoadedWithNoAppRefusesAndNamesTheTypo) {
  TempDir dir;
  const std::string ini = dir.Write(
      "app.ini", "[uwsgi]\nplugins = python\nmaster = true\nhttp-socket = " + dir.File("s.sock") +
                     "\nwsgi_file = app.py\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  EXPECT_EQ(ExitCodeOf(kiln), 1) << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(), "no Python application configured")) << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(),
                  "app.ini:5: `wsgi_file` is not an option; did you mean "
                  "`wsgi-file` (python plugin)?"))
      << kiln.Log();
}

TEST(KilnNoApp, NeedAppFalseStartsAndAnswers500WithNoAppLoaded) {
  TempDir dir;
  const std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--need-app=false", "--http-socket", sock}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", kStartup)) << kiln.Log();
  for (const char* path : {"/api/v1/health", "/admin/vars", "/bytes?n=50000000"}) {
    absl::StatusOr<Response> r = HttpGet(sock, path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 500) << path;
    EXPECT_LT(r->body.size(), 100u) << path;
  }
  EXPECT_TRUE(Has(kiln.Log(), "no app loaded: every request gets 500 (need-app = false)"))
      << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("--- no app loaded", absl::Seconds(5), 3)) << kiln.Log();
}

TEST(KilnNoApp, BuiltinHandlerAnswersOnlyWhenAskedAndHidesRequestHeaders) {
  TempDir dir;
  const std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(), "built-in test handler answers every request")) << kiln.Log();
  const std::string answer = RawExchange(
      sock,
      "GET /admin/vars?x=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic c2VjcmV0OnB3\r\n"
      "Cookie: session=s3cr3t\r\nX-Api-Key: k3y\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(Has(answer, "HTTP/1.1 200")) << answer;
  EXPECT_TRUE(Has(answer, "PATH_INFO=/admin/vars\n")) << answer;
  EXPECT_TRUE(Has(answer, "QUERY_STRING=x=1\n")) << answer;
  for (const char* secret : {"HTTP_", "c2VjcmV0OnB3", "s3cr3t", "k3y"}) {
    EXPECT_FALSE(Has(answer, secret)) << secret << " in\n" << answer;
  }
}

}  // namespace
}  // namespace kiln::testing
