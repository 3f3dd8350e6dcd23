// An in-memory kiln host for plugin tests: it loads a plugin .so, hands it a kiln_host_api
// whose options come from a map, feeds requests from FakeRequest (variables, a body delivered in
// bounded reads) and records the response. No sockets, no processes.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.h"
#include "tests/unit/plugins/fake_router.h"

namespace kiln::testing {

struct FakeRequest {
  std::vector<std::pair<std::string, std::string>> vars;
  std::string body;
  size_t max_read = 1 << 20;  // largest piece one body read returns
  uint8_t modifier1 = 0;
  bool fail_writes = false;
  // Runs before each body read (a test may block here to prove the GIL is released).
  std::function<void()> before_read;

  // Recorded response.
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> writes;  // one entry per response_write / response_sendfile
  int start_calls = 0;
  bool started = false;
  bool used_sendfile = false;
  size_t body_pos = 0;

  std::string Body() const;
  std::string Header(const std::string& name) const;  // "" when absent
};

// Common request: GET `path` with the variables nginx's uwsgi_params sends.
FakeRequest MakeRequest(const std::string& method, const std::string& path,
                        const std::string& query = "", const std::string& body = "");

class FakeHost {
 public:
  // Options as the configuration would give them (repeat a key for LIST options).
  void Set(const std::string& name, const std::string& value);
  void Add(const std::string& name, const std::string& value);

  // dlopen()s the plugin, checks its descriptor, runs init and the startup callbacks as the
  // master and a worker would: config_done, master_start, app_load, postfork(1). Returns ""
  // on success, else which step failed and the plugin's message.
  std::string Start(const std::string& plugin_path);

  // Routes one request as kiln would and serves it; returns what on_app_request returned.
  kiln_status Serve(FakeRequest& req);
  void WorkerExit();

  const kiln_plugin_desc* descriptor() const { return desc_; }
  std::vector<std::string> Logs() const;
  bool LogContains(const std::string& needle) const;
  std::string LastError() const;

  static FakeHost& Instance();

  // Used by the C table.
  std::map<std::string, std::vector<std::string>> options_;
  std::vector<std::pair<std::string, std::string>> entries_;
  mutable std::mutex mu_;
  std::vector<std::string> logs_;
  std::string last_error_;
  int worker_id_ = 0;
  int workers_ = 1;
  int threads_ = 1;
  int reloads_ = 0;

 private:
  kiln_status OfferMounts();
  FakeRouter router_;

  const kiln_plugin_desc* desc_ = nullptr;
  kiln_callbacks cb_{};
};

// Path of the python plugin under test (from KILN_PLUGIN_BUILD_DIR or the build definition).
std::string PythonPluginPath();

}  // namespace kiln::testing
