// Helpers of the python end-to-end tests: an HTTP/1.1 client that sends any method and body
// (to a unix path or host:port) and decodes chunked answers, and kiln started with a Python app
// and waited for.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {

// One request with Connection: close; the answer read to EOF, its body de-chunked.
absl::StatusOr<Response> HttpRequest(std::string_view address, std::string_view method,
                                     std::string_view target, std::string_view body = "",
                                     std::string_view content_type = "",
                                     absl::Duration timeout = absl::Seconds(10));

// Polls GET `target` until it answers 200; false after `timeout`.
bool WaitFor200(std::string_view address, std::string_view target, absl::Duration timeout);

// LSAN_OPTIONS for a kiln that embeds Python: libpython's memory held at exit is not a leak.
std::string LsanOptionsForPython();

// $KILN_SOURCE_DIR (the repository).
std::string SourceDir();

// The header value of `name` in a response head ("" when absent; case-insensitive name).
std::string HeaderOf(const Response& r, std::string_view name);

}  // namespace kiln::testing
