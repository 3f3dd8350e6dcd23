// The helpers of py_client.h.
#include "tests/python/py_client.h"

#include <chrono>
#include <thread>

namespace kiln::testing {

bool WaitFor200(std::string_view address, std::string_view target, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<Response> r = HttpRequest(address, "GET", target, "", "", absl::Seconds(2));
    if (r.ok() && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string LsanOptionsForPython() {
  return "suppressions=" + SourceDir() + "/tests/python/lsan.supp:print_suppressions=0";
}

}  // namespace kiln::testing
