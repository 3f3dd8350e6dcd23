// Log files kiln opens itself: mode, close-on-exec, append, reopen, and whole lines from many
// processes writing at once.
#include "core/log/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>

#include <map>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

using ::testing::HasSubstr;

class FileSinkTest : public testing::TempDirTest {};

TEST_F(FileSinkTest, CreatesTheFileWithMode0640WhateverTheUmask) {
  mode_t old = ::umask(0077);
  auto sink = FileSink::Open(dir_ + "/a.log", {});
  ::umask(old);
  ASSERT_TRUE(sink.ok()) << sink.status();
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/a.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(FileSinkTest, HonoursAnotherMode) {
  FileOptions options;
  options.mode = 0600;
  auto sink = FileSink::Open(dir_ + "/a.log", options);
  ASSERT_TRUE(sink.ok());
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/a.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(FileSinkTest, GivesACreatedFileToTheTargetUser) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to chown";
  }
  FileOptions options;
  options.uid = 65534;  // nobody
  options.gid = 65534;
  auto sink = FileSink::Open(dir_ + "/a.log", options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/a.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
}

TEST_F(FileSinkTest, DescriptorIsCloseOnExecAndAppending) {
  auto sink = FileSink::Open(dir_ + "/a.log", {});
  ASSERT_TRUE(sink.ok());
  int fd = (*sink)->fd();
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_APPEND);
}

TEST_F(FileSinkTest, AppendsToAnExistingFile) {
  {
    auto sink = FileSink::Open(dir_ + "/a.log", {});
    ASSERT_TRUE(sink.ok());
    (*sink)->Write("one\n");
  }
  auto sink = FileSink::Open(dir_ + "/a.log", {});
  ASSERT_TRUE(sink.ok());
  (*sink)->Write("two\n");
  EXPECT_EQ(Slurp(dir_ + "/a.log"), "one\ntwo\n");
}

TEST_F(FileSinkTest, OpenErrorNamesThePathAndTheReason) {
  auto sink = FileSink::Open(dir_ + "/no/such/dir.log", {});
  ASSERT_FALSE(sink.ok());
  std::string msg(sink.status().message());
  EXPECT_THAT(msg, HasSubstr(dir_ + "/no/such/dir.log"));
  EXPECT_THAT(msg, HasSubstr("No such file or directory"));
}

TEST_F(FileSinkTest, FailedWritesAreCountedNotFatal) {
  auto sink = FileSink::Open(dir_ + "/a.log", {});
  ASSERT_TRUE(sink.ok());
  FdSink full(::open("/dev/full", O_WRONLY | O_CLOEXEC), "/dev/full");
  full.Write("x\n");
  full.Write("y\n");
  EXPECT_EQ(full.FailureCount(), 2u);
  EXPECT_THAT(full.LastFailure(), HasSubstr("No space left on device"));
}

TEST(PipeSafePrefixTest, CutsBatchesAtLineEndsWithinPipeBuf) {
  EXPECT_EQ(PipeSafePrefix("a\nb\n"), 4u);
  std::string batch;
  while (batch.size() < 3 * PIPE_BUF) batch += std::string(99, 'x') + "\n";
  const size_t cut = PipeSafePrefix(batch);
  EXPECT_LE(cut, static_cast<size_t>(PIPE_BUF));
  EXPECT_GT(cut, static_cast<size_t>(PIPE_BUF) - 100);
  EXPECT_EQ(batch[cut - 1], '\n');
  // A single line longer than PIPE_BUF goes out whole, alone.
  std::string big = std::string(PIPE_BUF + 10, 'y') + "\nnext\n";
  EXPECT_EQ(PipeSafePrefix(big), static_cast<size_t>(PIPE_BUF) + 11);
}

// Processes writing request-log batches larger than PIPE_BUF into one pipe (stderr under
// systemd or a container) with a slow reader: the writes fill the pipe and block, and no line
// may be torn by another process's write.
TEST(FdSinkTest, BatchesLargerThanAPipeBufferReachAPipeAsWholeLines) {
  constexpr int kProcs = 4, kBatches = 60;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      FdSink sink(fds[1], "pipe");
      for (int b = 0; b < kBatches; ++b) {
        std::string batch;
        size_t count = 0;
        for (int i = 0; batch.size() < 20000; ++i, ++count) {
          std::string line = absl::StrFormat("p%d b%d i%d ", p, b, i);
          line.append(static_cast<size_t>(50 + (i * 53) % 300), static_cast<char>('a' + p));
          batch += line + "\n";
        }
        sink.WriteLines(batch, count);
      }
      ::_exit(sink.FailureCount() == 0 ? 0 : 1);
    }
    pids.push_back(pid);
  }
  ::close(fds[1]);
  std::string all;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) != 0;) {
    ASSERT_GT(n, 0);
    all.append(buf, static_cast<size_t>(n));
    if (all.size() % 64 == 0) ::usleep(50);  // a slow reader keeps the pipe full
  }
  ::close(fds[0]);
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::istringstream in(all);
  int total = 0;
  for (std::string line; std::getline(in, line); ++total) {
    int p = -1, b = -1, i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "p%d b%d i%d ", &p, &b, &i), 3) << line.substr(0, 60);
    const std::string tail = line.substr(line.rfind(' ') + 1);
    ASSERT_EQ(tail.size(), static_cast<size_t>(50 + (i * 53) % 300)) << "torn: " << line;
    ASSERT_EQ(tail.find_first_not_of(static_cast<char>('a' + p)), std::string::npos) << line;
  }
  EXPECT_GT(total, kProcs * kBatches * 50);
}

TEST_F(FileSinkTest, ManyProcessesWritingAtOnceProduceOnlyWholeLines) {
  constexpr int kProcs = 8;
  constexpr int kLines = 2000;
  std::string path = dir_ + "/shared.log";
  auto sink = FileSink::Open(path, {});
  ASSERT_TRUE(sink.ok());
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Each child opens the file itself, as a worker reopening after rotation would.
      auto mine = FileSink::Open(path, {});
      // Lines of different lengths, some longer than a pipe buffer, make tearing visible.
      for (int i = 0; i < kLines; ++i) {
        std::string line = absl::StrFormat("p%d i%d ", p, i);
        line.append(static_cast<size_t>(100 + (i * 37) % 5000), static_cast<char>('a' + p));
        line.push_back('\n');
        (p % 2 == 0 ? *sink : *mine)->Write(line);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::istringstream in(Slurp(path));
  std::string line;
  std::map<int, int> per_proc;
  int total = 0;
  while (std::getline(in, line)) {
    int p = -1, i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "p%d i%d ", &p, &i), 2) << line.substr(0, 40);
    std::string tail = line.substr(line.find(' ', line.find(' ') + 1) + 1);
    ASSERT_EQ(tail.size(), static_cast<size_t>(100 + (i * 37) % 5000)) << "torn line";
    ASSERT_EQ(tail.find_first_not_of(static_cast<char>('a' + p)), std::string::npos);
    ++per_proc[p];
    ++total;
  }
  EXPECT_EQ(total, kProcs * kLines);
  for (int p = 0; p < kProcs; ++p) {
    EXPECT_EQ(per_proc[p], kLines);
  }
}

}  // namespace
}  // namespace kiln::log
