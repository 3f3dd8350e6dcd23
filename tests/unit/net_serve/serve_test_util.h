// Test harness for the serving loop: listen sockets on loopback / a unix path under a short
// temp dir, a ServeLoop on its own thread, simple blocking clients, and a request-log sink
// that keeps lines in memory.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/net/serve_loop.h"

namespace kiln::net::testing {

struct HttpResponse {
  int status = 0;
  std::string head;  // status line + headers
  std::string body;  // de-chunked
  bool chunked = false;
  bool closed = false;  // the server closed after the body (close-delimited or Connection: close)
  std::string Header(std::string_view name) const;  // "" if absent
};

class ServeHarness {
 public:
  ServeHarness();
  ~ServeHarness();  // stops the loop (immediately) and joins

  // Starts a loop with an HTTP socket on 127.0.0.1:0 and a uwsgi socket on a unix path.
  // With no handler, kiln's built-in test handler answers (options.builtin_handler is set).
  // A handler must outlive the loop (declare it before the harness): the loop's end calls it
  // (Handler::ServeThreadsDone).
  void Start(ServeOptions options = ServeOptions(), protocol::Handler* handler = nullptr);
  void Stop(bool graceful);  // Stop + join
  ServeLoop& loop() { return *loop_; }

  base::UniqueFd ConnectHttp();
  base::UniqueFd ConnectUwsgi();
  const std::string& dir() const { return dir_; }
  int http_port() const { return port_; }
  const std::string& uwsgi_path() const { return unix_path_; }

  // Request-log lines written so far.
  std::vector<std::string> LogLines();
  std::vector<std::string> ServerLogLines();

 private:
  std::string dir_;
  int port_ = 0;
  std::string unix_path_;
  base::UniqueFd http_fd_, uwsgi_fd_;
  std::unique_ptr<ServeLoop> loop_;
  std::thread thread_;
};

// Answers every request variable as "NAME=value" lines, request headers included (the
// built-in handler's /vars leaves those out): for tests of how requests become variables.
class AllVarsHandler : public protocol::Handler {
 public:
  void Handle(protocol::RequestContext& request) override;
};

base::UniqueFd ConnectUnix(const std::string& path);
void SendAll(int fd, std::string_view data);
// Reads until EOF (or 5 s).
std::string ReadToEof(int fd);
// Reads exactly one HTTP response (Content-Length, chunked or to EOF). status 0 on EOF.
HttpResponse ReadResponse(int fd, bool head_request = false);
// GET on a fresh connection.
HttpResponse Get(ServeHarness& h, std::string_view path);

}  // namespace kiln::net::testing
