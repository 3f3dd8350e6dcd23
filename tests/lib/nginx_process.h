// Test helper: a real nginx (Debian's /usr/sbin/nginx) in front of kiln, with a complete conf of
// its own in a temp dir (pid file, error and access logs, *_temp_path directories), started in
// the foreground, waited for, reloaded, and stopped by PID.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <string_view>

#include "tests/lib/kiln_process.h"

namespace kiln::testing {

// One running nginx. The conf is generated around `http_body` (upstreams and servers, the
// inside of http{}): `user`, one worker, the pid file, the error log, the access log and every
// *_temp_path in Dir(). The destructor stops it (SIGQUIT, then SIGKILL to its process group
// after a bound), so a failing test leaves nothing behind.
class NginxProcess {
 public:
  struct Options {
    // The `user` directive; workers of a root master run as this user.
    std::string user = "nobody nogroup";
    // false: `master_process off`, one process serving (the in-process tests reach 0700
    // sockets, so their nginx stays root and single).
    bool master = true;
    // Listen on a unix socket in Dir() instead of a TCP port on 127.0.0.1.
    bool unix_socket = false;
  };

  NginxProcess() : NginxProcess(Options()) {}
  explicit NginxProcess(Options options);
  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  // The address the first server of the conf listens on, for its `listen` directive and for
  // clients: "127.0.0.1:<Port()>", or the unix socket path. Chosen at construction.
  const std::string& Address() const { return address_; }
  // Address() as a `listen` directive takes it ("unix:" before a socket path).
  std::string Listen() const { return options_.unix_socket ? "unix:" + address_ : address_; }
  // The TCP port of Address() (0 with a unix socket).
  int Port() const { return port_; }
  // The directory holding the conf, the logs and the temp paths.
  const std::string& Dir() const { return dir_.path(); }

  // Writes the conf around `http_body`, starts nginx and waits (bounded) until it answers an
  // HTTP request on Address() itself (a request without Host: nginx's own 400, so nothing
  // reaches an upstream). "" when it does; else why not, with the error log and the numbered
  // conf (nginx missing, a bad conf, an early exit, no answer in time).
  std::string Start(std::string_view http_body);
  pid_t Pid() const { return pid_; }
  // The error log so far (start-up errors included).
  std::string ErrorLog() const;
  // The access log so far.
  std::string AccessLog() const;
  // SIGHUP (after rewriting the conf around `http_body` unless it is empty) and waits until
  // every worker is one of the new generation. "" when so; else why not, as Start() says it.
  std::string Reload(std::string_view http_body = "");
  // Stops it: SIGQUIT (graceful), SIGKILL to its process group after `grace`.
  void Stop(absl::Duration grace = absl::Seconds(5));

 private:
  std::string WriteConf(std::string_view http_body) const;
  std::set<pid_t> Workers() const;
  bool Answers() const;
  std::string Failure(std::string_view what) const;

  Options options_;
  TempDir dir_;
  std::string address_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace kiln::testing
