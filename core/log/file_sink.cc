// Descriptor and file sinks: the core's own log targets (stderr, `logto = /path`).
#include "core/log/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/safe_file.h"

namespace kiln::log {

absl::StatusOr<base::UniqueFd> OpenLogFile(const std::string& path, const FileOptions& options) {
  if (path.empty()) {
    return absl::InvalidArgumentError("log file path is empty");
  }
  // The rules (no final symlink, a regular file owned by root or the service user, ownership
  // given only to a file created here) are base::OpenAppendFile's, shared with daemonize.
  absl::StatusOr<base::OpenedFile> file =
      base::OpenAppendFile(path, {.mode = options.mode, .uid = options.uid, .gid = options.gid});
  if (!file.ok()) {
    return file.status();
  }
  return std::move(file->fd);
}

std::optional<std::string> WriteLine(int fd, std::string_view line) {
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return base::ErrnoText(errno);
  }
  if (static_cast<size_t>(n) != line.size()) {
    return absl::StrFormat("short write (%d of %d bytes)", n, line.size());
  }
  return std::nullopt;
}

size_t PipeSafePrefix(std::string_view lines) {
  if (lines.size() <= PIPE_BUF) return lines.size();
  size_t nl = lines.rfind('\n', PIPE_BUF - 1);
  if (nl == std::string_view::npos) nl = lines.find('\n');  // one line longer than PIPE_BUF
  return nl == std::string_view::npos ? lines.size() : nl + 1;
}

std::optional<std::string> WriteLineBatch(int fd, std::string_view lines) {
  struct stat st;
  if (lines.size() <= PIPE_BUF || (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))) {
    return WriteLine(fd, lines);
  }
  while (!lines.empty()) {
    const size_t cut = PipeSafePrefix(lines);
    if (auto err = WriteLine(fd, lines.substr(0, cut))) return err;
    lines.remove_prefix(cut);
  }
  return std::nullopt;
}

void FdSink::Write(std::string_view line) {
  if (auto err = WriteLine(fd_, line)) {
    RecordFailure(std::move(*err));
  }
}

void FdSink::WriteLines(std::string_view lines, size_t count) {
  if (auto err = WriteLineBatch(fd_, lines)) {
    RecordFailure(std::move(*err), count);
  }
}

absl::StatusOr<std::unique_ptr<FileSink>> FileSink::Open(std::string path, FileOptions options) {
  absl::StatusOr<base::UniqueFd> fd = OpenLogFile(path, options);
  if (!fd.ok()) {
    return fd.status();
  }
  return std::unique_ptr<FileSink>(new FileSink(std::move(path), options, std::move(*fd)));
}

void FileSink::Write(std::string_view line) {
  if (auto err = WriteLine(fd_.Get(), line)) {
    RecordFailure(std::move(*err));
  }
}

void FileSink::WriteLines(std::string_view lines, size_t count) {
  if (auto err = WriteLineBatch(fd_.Get(), lines)) {
    RecordFailure(std::move(*err), count);
  }
}

absl::Status FileSink::Reopen() {
  absl::StatusOr<base::UniqueFd> fd = OpenLogFile(path_, options_);
  if (!fd.ok()) {
    return fd.status();
  }
  fd_ = std::move(*fd);
  return absl::OkStatus();
}

}  // namespace kiln::log
