// An Application with no language plugin: nothing to load, and requests go to the serving
// loop's built-in handler. Used until the plugin set is wired in, and by tests.
#pragma once

#include "core/process/server.h"

namespace kiln::process {

class BuiltinApplication : public Application {
 public:
  absl::Status MasterStart() override { return absl::OkStatus(); }
  absl::Status AppLoad() override { return absl::OkStatus(); }
  absl::Status PostFork(int /*worker_id*/) override { return absl::OkStatus(); }
  void WorkerExit() override {}
  void Shutdown() override {}
  protocol::Handler* handler() override { return nullptr; }  // the built-in handler answers
};

}  // namespace kiln::process
