// The host's routing for the plugins' fake hosts: offers `mount` values through on_mount_app
// and routes requests with kiln's own Router (core/plugin/router.h), as the plugin set does,
// so a plugin test sees the app handle and the SCRIPT_NAME/PATH_INFO split kiln would give.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/plugin/router.h"
#include "kiln/kiln.h"

namespace kiln::testing {

class FakeRouter {
 public:
  // Offers each `mount` value to the plugin's on_mount_app (a declined one is another
  // plugin's). KILN_ERROR with *error set when a value is malformed, the plugin refuses it
  // or the mount point is taken.
  kiln_status Offer(const kiln_callbacks& cb, const std::vector<std::string>& mounts,
                    bool manage_script_name, std::string* error);
  // Routes a request with these variables as kiln would, rewriting SCRIPT_NAME/PATH_INFO when
  // manage-script-name splits them; returns the app handle to pass to on_app_request.
  void* Route(std::vector<std::pair<std::string, std::string>>* vars) const;

 private:
  kiln::plugin::Router router_;
};

}  // namespace kiln::testing
