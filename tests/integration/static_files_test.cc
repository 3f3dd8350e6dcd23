// static-map in the real binary against files that are not regular: a FIFO in the mapped
// directory is refused at once (opening it must not wait for a writer and hold the worker),
// and the server goes on serving.
#include <signal.h>
#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

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
}  // namespace kiln::testing
