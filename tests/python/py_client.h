// Helpers of the python end-to-end tests on top of the shared client (tests/lib/kiln_process.h):
// waiting for an app to answer, the sanitizer options an embedded Python needs.
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {

// Polls GET `target` until it answers 200; false after `timeout`.
bool WaitFor200(std::string_view address, std::string_view target, absl::Duration timeout);

// LSAN_OPTIONS for a kiln that embeds Python: libpython's memory held at exit is not a leak.
std::string LsanOptionsForPython();

}  // namespace kiln::testing
