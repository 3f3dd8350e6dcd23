#include "core/base/errno_status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace kiln::base {
namespace {

TEST(ErrnoError, NamesTheCallTheObjectAndTheReason) {
  absl::Status s = ErrnoError(EACCES, "bind", "/run/app.sock");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "bind(/run/app.sock): Permission denied");
  EXPECT_EQ(ErrnoError(ENOENT, "open").message(), "open: No such file or directory");
}

}  // namespace
}  // namespace kiln::base
