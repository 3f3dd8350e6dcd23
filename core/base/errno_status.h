// Turns a failed syscall into an absl::Status that names the call, the object and errno's text.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace kiln::base {

// ErrnoError(EACCES, "bind", "/run/app.sock") ->
//   PermissionDenied("bind(/run/app.sock): Permission denied")
absl::Status ErrnoError(int err, std::string_view syscall, std::string_view object = {});

// Human text for errno (strerror_r, thread-safe).
std::string ErrnoText(int err);

}  // namespace kiln::base
