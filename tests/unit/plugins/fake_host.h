// The one in-memory kiln host for plugin unit tests (python, lua): it dlopen()s a plugin .so,
// drives its callbacks as the master and a worker would, feeds requests from FakeRequest and
// records what the plugin answered. No sockets, no processes, no kiln binary.
//
// What it serves, and how (one behaviour for every plugin):
// - Options: set with SetOption in configuration order, resolved with kiln's own registry
//   (core's options and the plugin's) and served by kiln's own host functions, so option_get,
//   option_flag, config_entry_get & co answer exactly as in the server: an unknown name is
//   KILN_ERROR, option_flag only answers options of kind flag, a list's option_get is its first
//   value, a scalar's its last. The plugin's settings struct is filled the same way.
// - error_set: kiln's own (per thread); error() is what the plugin attached during the last
//   call the test made, prefixed by the step for a startup step ("on_app_load: ...").
// - Body reads: each read returns min(the plugin's buffer, what is left, FakeRequest::max_read)
//   bytes; max_read is unbounded unless a test sets it to make bytes trickle in.
// - The log: every log_write line is kept (Logs, LogContains) and echoed to stderr, so a death
//   test can match it and a failing test shows it.
// - Responses: response_start refuses a second start, a status outside 100..999 and CR/LF in a
//   header, as the server does; response_sendfile reads the file; writes_fail makes every
//   write and sendfile fail as for a client gone.
// - server_reload is counted (reloads()); worker id, core id (per serving thread) and the
//   worker and thread counts are kiln's own process facts, set by the host.
// One FakeHost exists at a time (the host functions are process-wide); a test that needs a
// fresh plugin start runs in a death test's child or constructs a new host after the old one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.h"
#include "tests/unit/plugins/fake_router.h"

namespace kiln::testing {

struct FakeRequest {
  // Input.
  std::vector<std::pair<std::string, std::string>> vars;  // the last of duplicates wins
  std::string body;
  size_t max_read = SIZE_MAX;  // most bytes one request_body_read returns
  bool body_fails = false;     // request_body_read reports a client gone
  bool writes_fail = false;    // response_write/sendfile report a client gone
  int modifier1 = -1;          // -1: the plugin's first modifier1, as kiln dispatches
  // Run before each body read / each response_write, as a wait for the client: inside the
  // plugin's wait hook (request_wait_hook) when it set one, else as it is (a test may block
  // here to prove a lock is released).
  std::function<void()> before_read;
  std::function<void()> before_write;

  // The plugin's wait hook (request_wait_hook), and how many waits it was told of.
  void (*wait_hook)(void* ctx, int waiting) = nullptr;
  void* wait_hook_ctx = nullptr;
  int hooked_waits = 0;

  // What the plugin did.
  size_t body_pos = 0;
  size_t body_reads = 0;  // reads that returned bytes
  int start_calls = 0;    // response_start calls, refused ones included
  bool started = false;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> writes;  // one entry per response_write / response_sendfile
  bool used_sendfile = false;

  std::string Body() const;                           // the writes joined
  std::string Header(const std::string& name) const;  // the first value, "" if none
  std::vector<std::string> HeaderValues(const std::string& name) const;  // all, in order
};

// A request with the CGI variables nginx's uwsgi_params sends for `method target` (target may
// carry ?query); with a body (or for POST) also CONTENT_LENGTH and a CONTENT_TYPE of
// application/octet-stream, which a test may override by appending its own.
FakeRequest MakeRequest(const std::string& method, const std::string& target,
                        const std::string& body = "");

class FakeHost {
 public:
  FakeHost();
  ~FakeHost();  // runs on_worker_exit; the plugin stays loaded, as the server never unloads it
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // One configuration line `name = value`, in order (repeat a name for a list option).
  void SetOption(const std::string& name, const std::string& value);
  void set_workers(int n) { workers_ = n; }
  void set_threads(int n) { threads_ = n; }

  // The startup steps, as the server runs them. Each returns the plugin's status, with its
  // message in error().
  kiln_status Load(const std::string& plugin_path);  // dlopen, descriptor, init
  // The options resolved and the settings filled, on_config_done, then each `mount` value
  // offered to on_mount_app (fake_router.h), as kiln's plugin set does.
  kiln_status ConfigDone();
  kiln_status MasterStart();
  kiln_status AppLoad();  // in the "master" (worker id 0), or in a worker after PostFork
  kiln_status PostFork(int worker_id);
  // All of them: Load, ConfigDone, MasterStart, AppLoad, PostFork(1). "" on success, else
  // error() (the step and the plugin's message).
  std::string Start(const std::string& plugin_path);
  // Presents the host table of SDK 1.5, without request_wait_hook, as an older kiln does (call
  // before Load or Start).
  void UseSdk15Table();

  // Routes one request as kiln would, runs on_app_request then on_after_request on core
  // `core` of this thread; returns what on_app_request returned. May run on several threads.
  kiln_status Serve(FakeRequest& request, int core = 0);
  void WorkerExit();

  const kiln_plugin_desc* desc() const { return desc_; }
  std::string error() const;
  std::vector<std::string> Logs() const;
  bool LogContains(const std::string& needle) const;
  int reloads() const { return reloads_.load(); }

  struct Settings;  // kiln's registry and the configuration resolved with it

 private:
  friend struct FakeHostAccess;
  kiln_status Done(const char* step, kiln_status st, const std::string& fallback = "");

  kiln_host_api api_{};
  kiln_callbacks cb_{};
  const kiln_plugin_desc* desc_ = nullptr;
  std::vector<std::pair<std::string, std::string>> entries_;
  std::unique_ptr<Settings> settings_;
  FakeRouter router_;
  int workers_ = 1;
  int threads_ = 1;
  std::atomic<int> reloads_{0};
  mutable std::mutex mu_;  // error_ and logs_: plugins call from their own threads
  std::string error_;
  std::vector<std::string> logs_;
};

}  // namespace kiln::testing
