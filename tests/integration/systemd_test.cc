// kiln under systemd's protocols: READY=1 on $NOTIFY_SOCKET once workers accept, and sockets
// received through LISTEN_FDS served instead of bound.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

int BindUnix(const std::string& path, int type) {
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(KilnSystemd, SendsReadyToTheNotifySocketOnceWorkersAccept) {
  TempDir dir;
  std::string notify = dir.File("notify");
  int nfd = BindUnix(notify, SOCK_DGRAM);
  ASSERT_GE(nfd, 0);
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket", sock},
                   dir.File("kiln.log"));
  kiln.SetEnv("NOTIFY_SOCKET", notify);
  ASSERT_TRUE(kiln.Start());
  timeval tv{15, 0};
  setsockopt(nfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[512] = {};
  ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);
  close(nfd);
  ASSERT_GT(n, 0) << kiln.Log();
  std::string msg(buf, static_cast<size_t>(n));
  EXPECT_NE(msg.find("READY=1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MAINPID=" + std::to_string(kiln.pid())), std::string::npos) << msg;
  // READY came after the workers: the socket answers at once.
  auto r = HttpGet(sock, "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(KilnSystemd, ServesASocketReceivedThroughListenFds) {
  TempDir dir;
  std::string sock = dir.File("act.sock");
  int lfd = BindUnix(sock, SOCK_STREAM);
  ASSERT_GE(lfd, 0);
  ASSERT_EQ(listen(lfd, 16), 0);
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock}, dir.File("kiln.log"));
  kiln.PassListenFds({lfd});
  ASSERT_TRUE(kiln.Start());
  close(lfd);
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();
  EXPECT_NE(kiln.Log().find("received from systemd"), std::string::npos) << kiln.Log();
}

}  // namespace
}  // namespace kiln::testing
