// Writing a spool task (the SDK's `spool`, uWSGI's uwsgi.spool()): picks the spooler
// directory the task names (`spooler` argument, else the first `spooler` option), the
// `priority` subdirectory, and writes the file under uWSGI's name so that a spooler process
// only ever sees it whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/protocol/spool_packet.h"

namespace kiln::plugin {

// Writes one task into one of `dirs` (the `spooler` option's values) and returns the file's
// path. The arguments `spooler` (a directory of `dirs`, as configured or as its real path),
// `priority` (digits: a subdirectory) and `at` (unix time, the task runs no earlier) steer it
// and stay in the file, as in uWSGI. The file is created O_EXCL with mode 0600 by the calling
// process's user under a hidden name, filled, given `at` as its mtime, and renamed into place
// without replacing anything: a spooler never reads half a task.
absl::StatusOr<std::string> WriteSpoolTask(const std::vector<std::string>& dirs,
                                           const std::vector<protocol::SpoolVar>& vars,
                                           std::string_view body);

}  // namespace kiln::plugin
