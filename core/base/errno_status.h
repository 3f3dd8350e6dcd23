// Turns a failed syscall into an absl::Status that names the call, the object and errno's text.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace kiln::base {

// ErrnoError(EACCES, "bind", "/run/app.sock") ->
//   PermissionDenied("bind(/run/app.sock): Permission denied")
absl::Status ErrnoError(int err, std::string_view syscall, std::string_view object = {});

// The same error with what the operator should change appended when `err` is EACCES or EPERM
// (a permission error is only useful when it says which path or id and what to do):
//   "bind(/srv/app.sock): Permission denied: <hint>". Other errors get no hint.
absl::Status PermissionError(int err, std::string_view syscall, std::string_view object,
                             std::string_view hint);

// Human text for errno (strerror_r, thread-safe).
std::string ErrnoText(int err);

}  // namespace kiln::base
