// One write() per line to fd 2.
#include "core/process/process_log.h"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace kiln::process {

void LogLine(std::string_view line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line.data(), line.size());
  buf.push_back('\n');
  const char* p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    ssize_t n = write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // a failing log never stops the server
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace kiln::process
