// Sinks that write to a file descriptor: stderr, and log files kiln opens itself (`logto`).
// One write() per line on an O_APPEND descriptor, so lines from many processes never
// interleave; failures are counted, never fatal.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"
#include "core/log/logger.h"

namespace kiln::log {

// How kiln creates a log file: mode (logfile-chmod) and owner (the uid/gid kiln drops to, so
// a reopen after rotation works as that user); `uid` is also who may own an existing file.
struct FileOptions {
  mode_t mode = 0640;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

// Opens `path` for appending (O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC) with base::OpenAppendFile's
// rules: a symlink at the last component, a file that is not regular, or one owned by anyone
// but root, kiln's euid or `options.uid` (or hard-linked, unless `options.uid` owns it) is
// refused ("refusing to open PATH: it is a symbolic link; ..."). A file created here gets
// `options.mode` exactly (whatever the umask) and the owner, when one is given; an existing
// file keeps its owner. Errors name the path and the reason.
absl::StatusOr<base::UniqueFd> OpenLogFile(const std::string& path, const FileOptions& options);

// Writes to a descriptor it does not own (stderr).
class FdSink : public Sink {
 public:
  FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  void Write(std::string_view line) override;
  void WriteLines(std::string_view lines, size_t count) override;
  std::string Describe() const override { return name_; }

 private:
  int fd_;
  std::string name_;
};

// A log file opened by kiln; Reopen() opens the path again (after rotation) with the same
// checks and keeps the old descriptor when that fails (a swapped-in symlink is refused).
class FileSink : public Sink {
 public:
  static absl::StatusOr<std::unique_ptr<FileSink>> Open(std::string path, FileOptions options);
  void Write(std::string_view line) override;
  void WriteLines(std::string_view lines, size_t count) override;
  absl::Status Reopen() override;
  std::string Describe() const override { return path_; }
  std::string FilePath() const override { return path_; }
  int fd() const { return fd_.Get(); }

 private:
  FileSink(std::string path, FileOptions options, base::UniqueFd fd)
      : path_(std::move(path)), options_(options), fd_(std::move(fd)) {}
  std::string path_;
  FileOptions options_;
  base::UniqueFd fd_;
};

// Points fd 1 and 2 at `path` (opened for appending) so what applications print (Python's
// print(), tracebacks) lands in the server log file too; ReopenAll() points them at the file
// again after a rotation. Errors name the path and the reason.
absl::Status SetStdioTarget(std::string path, const FileOptions& options);

// Writes `line` with one write() call; returns the reason on failure or short write.
std::optional<std::string> WriteLine(int fd, std::string_view line);

// Writes whole lines (a batch, each ending in '\n') so that no line can be torn by another
// process's write: with one write() when the batch fits in PIPE_BUF or `fd` is a regular file
// (an O_APPEND write lands whole); to a pipe or socket, in writes of at most PIPE_BUF bytes
// cut at line ends, since a larger one may interleave with other writers. Returns the reason
// of the first failure.
std::optional<std::string> WriteLineBatch(int fd, std::string_view lines);

// The length of the first piece of `lines` to write at once: all of it when it fits in
// PIPE_BUF, else the whole lines that do (or the first line, when that alone is longer).
size_t PipeSafePrefix(std::string_view lines);

}  // namespace kiln::log
