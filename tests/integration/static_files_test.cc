// static-map in the real binary against files that are not regular: a FIFO in the mapped
// directory is refused at once (opening it must not wait for a writer and hold the worker),
// and the server goes on serving.
#include <signal.h>
#include <sys/stat.h>

#include <ctime>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as Unix seconds.
std::optional<time_t> ParseHttpDateForTest(const std::string& text) {
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

TEST(StaticFiles, AFifoIsRefusedPromptlyAndTheWorkerGoesOnServing) {
  TempDir dir;
  const std::string sock = dir.File("http.sock");
  const std::string root = dir.File("static");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  dir.Write("static/file.txt", "plain file\n");
  ASSERT_EQ(mkfifo((root + "/pipe").c_str(), 0644), 0);
  // One process, one thread: a worker held in open() would answer nothing else.
  KilnProcess kiln({"--master", "--processes", "1", "--http-socket", sock, "--builtin-handler",
                    "--static-map", "/s=" + root},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();

  for (int i = 0; i < 3; ++i) {
    const absl::Time t0 = absl::Now();
    absl::StatusOr<Response> fifo = HttpGet(sock, "/s/pipe", absl::Seconds(3));
    ASSERT_TRUE(fifo.ok()) << fifo.status() << "\n" << kiln.Log();
    EXPECT_EQ(fifo->status, 403);
    EXPECT_LT(absl::Now() - t0, absl::Seconds(1));
  }
  absl::StatusOr<Response> file = HttpGet(sock, "/s/file.txt", absl::Seconds(3));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->status, 200);
  EXPECT_EQ(file->body, "plain file\n");
  absl::StatusOr<Response> app = HttpGet(sock, "/echo", absl::Seconds(3));
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(app->status, 200);
}

// static-safe: a symlink under the mapped directory may lead into this directory (a shared
// assets checkout, say); one leading anywhere else is still refused.
TEST(StaticFiles, StaticSafeLetsSymlinksLeadIntoItsDirectoryOnly) {
  TempDir dir;
  const std::string sock = dir.File("http.sock");
  const std::string root = dir.File("static");
  const std::string shared = dir.File("shared");
  const std::string elsewhere = dir.File("elsewhere");
  for (const std::string& d : {root, shared, elsewhere}) ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  dir.Write("shared/app.css", "body {}\n");
  dir.Write("elsewhere/secret.txt", "secret\n");
  ASSERT_EQ(symlink((shared + "/app.css").c_str(), (root + "/app.css").c_str()), 0);
  ASSERT_EQ(symlink((elsewhere + "/secret.txt").c_str(), (root + "/secret.txt").c_str()), 0);
  auto serve = [&](std::vector<std::string> extra, const std::string& path) {
    std::vector<std::string> args = {"--master", "--http-socket", sock, "--builtin-handler",
                                     "--static-map", "/s=" + root};
    args.insert(args.end(), extra.begin(), extra.end());
    KilnProcess kiln(args, dir.File("kiln.log"));
    EXPECT_TRUE(kiln.Start());
    EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();
    absl::StatusOr<Response> r = HttpGet(sock, path, absl::Seconds(3));
    kiln.Signal(SIGTERM);
    kiln.WaitExit(absl::Seconds(20));
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(serve({}, "/s/app.css"), 403);
  EXPECT_EQ(serve({"--static-safe", shared}, "/s/app.css"), 200);
  EXPECT_EQ(serve({"--static-safe", shared}, "/s/secret.txt"), 403);
}

}  // namespace
// static-gzip-all: a client that accepts gzip gets app.js.gz, marked as such; one that does
// not, and a file with no .gz beside it, get the file itself. static-expires sets Expires on
// the files whose path matches, and a bad rule stops the start naming it.
TEST(StaticFiles, StaticGzipAllAndStaticExpires) {
  TempDir dir;
  const std::string sock = dir.File("http.sock");
  const std::string root = dir.File("static");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  dir.Write("static/app.js", "plain js\n");
  dir.Write("static/app.js.gz", "gzipped js");
  dir.Write("static/page.html", "<p>\n");
  KilnProcess kiln({"--master", "--http-socket", sock, "--builtin-handler", "--static-map",
                    "/s=" + root, "--static-gzip-all", "--static-expires", "\\.js$ 3600"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();
  const auto get = [&](const std::string& path, const std::string& accept) {
    return Exchange(sock, "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + accept +
                              "Connection: close\r\n\r\n");
  };
  absl::StatusOr<Response> gz = get("/s/app.js", "Accept-Encoding: deflate, gzip\r\n");
  ASSERT_TRUE(gz.ok()) << gz.status();
  EXPECT_EQ(gz->status, 200);
  EXPECT_EQ(gz->body, "gzipped js");
  EXPECT_EQ(HeaderOf(*gz, "Content-Encoding"), "gzip") << gz->head;
  EXPECT_EQ(HeaderOf(*gz, "Content-Type"), "text/javascript") << gz->head;
  EXPECT_EQ(HeaderOf(*gz, "Vary"), "Accept-Encoding") << gz->head;
  std::optional<time_t> expires = ParseHttpDateForTest(HeaderOf(*gz, "Expires"));
  ASSERT_TRUE(expires.has_value()) << gz->head;
  EXPECT_NEAR(static_cast<double>(*expires - time(nullptr)), 3600, 60);

  absl::StatusOr<Response> plain = get("/s/app.js", "");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->body, "plain js\n");
  EXPECT_EQ(HeaderOf(*plain, "Content-Encoding"), "") << plain->head;
  absl::StatusOr<Response> html = get("/s/page.html", "Accept-Encoding: gzip\r\n");
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(html->body, "<p>\n");
  EXPECT_EQ(HeaderOf(*html, "Content-Encoding"), "") << html->head;
  EXPECT_EQ(HeaderOf(*html, "Expires"), "") << html->head;
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());

  for (const char* rule : {"\\.js$", "([ 60"}) {
    KilnProcess bad({"--http-socket", dir.File("b.sock"), "--builtin-handler", "--static-map",
                     "/s=" + root, "--static-expires", rule},
                    dir.File("bad.log"));
    ASSERT_TRUE(bad.Start());
    std::optional<int> code = bad.WaitExit(absl::Seconds(20));
    ASSERT_TRUE(code.has_value());
    EXPECT_NE(*code, 0);
    EXPECT_NE(bad.Log().find("static-expires"), std::string::npos) << bad.Log();
  }
}

}  // namespace kiln::testing
