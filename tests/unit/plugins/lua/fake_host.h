// An in-memory kiln host for plugin tests: a kiln_host_api whose options, request variables
// and body come from the test, and which records the response, the log and error_set
// messages. Loads a real plugin .so and drives its callbacks as the server would, so WSAPI
// edge cases need no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.h"
#include "tests/unit/plugins/fake_router.h"

namespace kiln::testing {

struct FakeRequest {
  // Input.
  std::vector<std::pair<std::string, std::string>> vars;
  std::string body;
  size_t max_read = SIZE_MAX;  // most bytes one request_body_read returns
  bool body_fails = false;     // request_body_read reports a client gone
  bool writes_fail = false;    // response_write reports a client gone
  uint8_t modifier1 = 6;

  // What the plugin did.
  size_t body_pos = 0;
  size_t body_reads = 0;  // calls that returned bytes
  bool started = false;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> writes;
  std::string out;

  // The values of header `name` in order.
  std::vector<std::string> Header(const std::string& name) const;
};

// A request with the CGI variables nginx would send for `method target`.
FakeRequest MakeRequest(const std::string& method, const std::string& target,
                        const std::string& body = "");

class FakeHost {
 public:
  FakeHost();
  ~FakeHost();
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // Sets an option as the configuration would (list options accumulate).
  void SetOption(const std::string& name, const std::string& value);

  // dlopen()s the plugin and runs its init. False (reason in error()) on failure.
  bool Load(const std::string& path);
  const kiln_plugin_desc* desc() const { return desc_; }

  // The callbacks, as the server calls them. Each returns the plugin's status; a message the
  // plugin attached with error_set is in error() until the next call.
  // ConfigDone: on_config_done, then each `mount` value offered to on_mount_app, as kiln does.
  kiln_status ConfigDone();
  kiln_status AppLoad();  // in the "master" (worker id 0), or in a worker after PostFork
  kiln_status PostFork(int worker_id);
  // Routed as kiln routes (fake_router.h), then on_app_request and on_after_request, on core
  // `core`.
  kiln_status Request(FakeRequest& request, int core = 0);
  void WorkerExit();

  // Starts the whole sequence config -> app load -> post fork(1); false with error() set when
  // one step fails.
  bool Start();

  const std::string& error() const { return error_; }
  const std::vector<std::string>& log() const { return log_; }
  std::string LogText() const;

  void set_threads(int n) { threads_ = n; }

 private:
  friend struct FakeHostAccess;
  kiln_status Done(kiln_status st);

  kiln_host_api api_{};
  kiln_callbacks cb_{};
  const kiln_plugin_desc* desc_ = nullptr;
  void* handle_ = nullptr;
  std::map<std::string, std::vector<std::string>> options_;
  std::string error_;
  std::string pending_error_;
  std::vector<std::string> log_;
  int worker_id_ = 0;
  int core_id_ = 0;
  int threads_ = 1;
  FakeRouter router_;
};

// The built lua plugin (its path from the build, else $KILN_PLUGIN_BUILD_DIR/lua_plugin.so).
std::string LuaPluginPath();

}  // namespace kiln::testing
