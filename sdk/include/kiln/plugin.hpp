// SPDX-License-Identifier: MIT
// kiln plugin SDK, optional C++ helper: keeps C++ exceptions from crossing the C boundary.
// Header-only; C plugins never need it. Not part of the ABI (it compiles into the plugin).
#ifndef KILN_PLUGIN_HPP
#define KILN_PLUGIN_HPP

#include <exception>

#include "kiln/kiln.h"

namespace kiln::sdk {

// Runs `fn` (returning kiln_status) and turns an escaping exception into KILN_ERROR with its
// what() attached through host->error_set. Use it as the whole body of every callback:
//   kiln_status OnRequest(void* ctx, kiln_request* r) {
//     return kiln::sdk::Guard(host, self, [&] { return Serve(r); });
//   }
template <typename Fn>
kiln_status Guard(const kiln_host_api* host, kiln_plugin* self, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::exception& e) {
    host->error_set(self, kiln_str_c(e.what()));
  } catch (...) {
    host->error_set(self, kiln_str_c("unknown C++ exception"));
  }
  return KILN_ERROR;
}

}  // namespace kiln::sdk

#endif  // KILN_PLUGIN_HPP
