// NginxProcess: the conf it writes, starting nginx in the foreground, waiting for it, reloading
// it and stopping it by PID.
#include "tests/lib/nginx_process.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace kiln::testing {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";
// Start-up and reload are a fork and a conf parse: seconds only on a machine under load.
constexpr absl::Duration kStartTimeout = absl::Seconds(15);

// The parent pid in /proc/<pid>/stat (0 when it cannot be read).
pid_t ParentOf(pid_t pid) {
  std::string stat = TempDir::ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  int ppid = 0;
  // ") S <ppid> ..."
  if (paren == std::string::npos ||
      std::sscanf(stat.c_str() + paren + 1, " %*c %d", &ppid) != 1) {
    return 0;
  }
  return ppid;
}

}  // namespace

NginxProcess::NginxProcess(Options options) : options_(std::move(options)) {
  if (options_.unix_socket) {
    address_ = dir_.File("nginx.sock");
  } else {
    port_ = FreeLoopbackPort();
    address_ = absl::StrCat("127.0.0.1:", port_);
  }
}

NginxProcess::~NginxProcess() { Stop(); }

std::string NginxProcess::WriteConf(std::string_view http_body) const {
  // Everything nginx writes is under Dir(): a root master creates the temp paths and hands
  // them to `user`, so its workers can spool bodies there.
  return dir_.Write(
      "nginx.conf",
      absl::StrReplaceAll(R"(# Written by tests/lib/nginx_process.cc.
daemon off;
master_process MASTER;
USER
worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/error.log;
events { worker_connections 512; }
http {
  access_log DIR/access.log;
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
BODY
}
)",
                          {{"MASTER", options_.master ? "on" : "off"},
                           {"USER", options_.user.empty() ? "" : "user " + options_.user + ";"},
                           {"DIR", dir_.path()},
                           {"BODY", std::string(http_body)}}));
}

std::string NginxProcess::Failure(std::string_view what) const {
  // nginx repeats its start-up errors on stderr (nginx.out): that file only when the log is
  // empty (an exec that failed).
  std::string log = ErrorLog();
  if (log.empty()) log = TempDir::ReadFile(dir_.File("nginx.out"));
  // The conf goes with the temp dir when the test ends: numbered here, for the line numbers in
  // nginx's messages.
  std::string conf;
  int line = 0;
  for (absl::string_view l : absl::StrSplit(TempDir::ReadFile(dir_.File("nginx.conf")), '\n')) {
    absl::StrAppend(&conf, absl::StrFormat("%3d  ", ++line), l, "\n");
  }
  return absl::StrCat("nginx (", kNginx, " -c ", dir_.File("nginx.conf"), "): ", std::string(what),
                      "\n--- its error log ---\n", log, "--- its conf ---\n", conf,
                      "--- end of nginx's conf ---");
}

std::string NginxProcess::ErrorLog() const { return TempDir::ReadFile(dir_.File("error.log")); }

std::string NginxProcess::AccessLog() const { return TempDir::ReadFile(dir_.File("access.log")); }

bool NginxProcess::Answers() const {
  // No Host header: nginx answers 400 itself, so a probe never reaches an upstream (a test
  // counting the requests its backends served sees none of these).
  absl::StatusOr<Response> r = Exchange(address_, "GET / HTTP/1.1\r\n\r\n", absl::Seconds(2));
  return r.ok();
}

std::string NginxProcess::Start(std::string_view http_body) {
  if (std::string missing = MissingTool(kNginx, "nginx-light"); !missing.empty()) {
    return missing;
  }
  if (address_.empty() || (!options_.unix_socket && port_ == 0)) {
    return "no free loopback port for nginx";
  }
  const std::string conf = WriteConf(http_body);
  const std::string error_log = dir_.File("error.log");
  const std::string out = dir_.File("nginx.out");
  pid_ = fork();
  if (pid_ < 0) {
    return Failure("fork failed");
  }
  if (pid_ == 0) {
    SetUpServerChild(out.c_str());
    // -e: errors before the conf's error_log is open (a bad directive) go to the same file.
    execl(kNginx, "nginx", "-e", error_log.c_str(), "-p", dir_.path().c_str(), "-c",
          conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Failure(absl::StrFormat("exited (%s %d) before it answered on %s",
                                     WIFEXITED(status) ? "status" : "signal",
                                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                                     address_));
    }
    if (Answers()) {
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return Failure(absl::StrCat("no answer on ", address_, " within ",
                              absl::FormatDuration(kStartTimeout)));
}

std::set<pid_t> NginxProcess::Workers() const {
  std::set<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) {
    return out;
  }
  for (dirent* e; (e = readdir(proc)) != nullptr;) {
    int pid = 0;
    if (absl::SimpleAtoi(e->d_name, &pid) && ParentOf(pid) == pid_ && ProcessAlive(pid)) {
      out.insert(pid);
    }
  }
  closedir(proc);
  return out;
}

std::string NginxProcess::Reload(std::string_view http_body) {
  if (pid_ <= 0) {
    return "nginx is not running";
  }
  if (!options_.master) {
    return "a reload replaces workers: it needs master = true";
  }
  if (!http_body.empty()) {
    WriteConf(http_body);
  }
  const std::set<pid_t> old = Workers();
  const size_t logged = ErrorLog().size();
  kill(pid_, SIGHUP);
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (absl::Now() < deadline) {
    // A conf nginx refuses leaves the old workers serving, with an [emerg] line.
    const std::string log = ErrorLog();
    if (log.find("[emerg]", logged) != std::string::npos) {
      return Failure("refused the reload");
    }
    std::set<pid_t> now = Workers();
    bool all_new = !now.empty();
    for (pid_t w : now) {
      all_new = all_new && old.count(w) == 0;
    }
    if (all_new) {
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Failure(absl::StrCat("old workers still running ",
                              absl::FormatDuration(kStartTimeout), " after SIGHUP"));
}

void NginxProcess::Stop(absl::Duration grace) {
  if (pid_ <= 0) {
    return;
  }
  kill(pid_, SIGQUIT);
  const absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Workers still finishing requests: the whole group goes.
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace kiln::testing
