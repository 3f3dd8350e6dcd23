#include "core/base/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/strings.h"

namespace kiln::base {

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns a pointer that may or may not be buf.
  const char* text = strerror_r(err, buf, sizeof buf);
  return text;
}

absl::Status ErrnoError(int err, std::string_view syscall, std::string_view object) {
  std::string msg = object.empty()
                        ? absl::StrCat(Av(syscall), ": ", ErrnoText(err))
                        : absl::StrCat(Av(syscall), "(", Av(object), "): ", ErrnoText(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
    case EADDRINUSE:
      return absl::AlreadyExistsError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    case EAGAIN:
    case EMFILE:
    case ENFILE:
    case ENOSPC:
    case ENOMEM:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

absl::Status PermissionError(int err, std::string_view syscall, std::string_view object,
                             std::string_view hint) {
  absl::Status st = ErrnoError(err, syscall, object);
  if ((err != EACCES && err != EPERM) || hint.empty()) return st;
  return absl::Status(st.code(), absl::StrCat(st.message(), ": ", Av(hint)));
}

}  // namespace kiln::base
