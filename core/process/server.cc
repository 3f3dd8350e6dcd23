// RunServer: the start-up order of docs/decisions.md 11 (logs, env, chdir, bind, chown/chmod,
// privilege drop, app load, fork), then the master loop or a single in-process worker.
#include "core/process/server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "core/base/errno_status.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/build_info.h"
#include "core/config/config.h"
#include "core/net/inherited_fds.h"
#include "core/log/file_sink.h"
#include "core/log/logger.h"
#include "core/net/listener.h"
#include "core/process/hooks.h"
#include "core/process/host_setup.h"
#include "core/process/operations.h"
#include "core/process/master.h"
#include "core/process/privileges.h"
#include "core/process/systemd.h"
#include "core/process/worker.h"

namespace kiln::process {
namespace {

// The terminal kiln was started from, kept while starting up once fd 2 points at the log file,
// so a failed start says why where it was started (and in the log). -1: none kept.
int g_startup_stderr = -1;
// False once fd 2 was pointed away from where kiln was started (daemonize, log file).
bool g_stderr_is_terminal = true;

void CloseStartupStderr() {
  if (g_startup_stderr >= 0) {
    close(g_startup_stderr);
    g_startup_stderr = -1;
  }
}

int StartupError(std::string_view what, const absl::Status& s) {
  std::string line =
      absl::StrFormat("kiln: error: %s%s%s", what, what.empty() ? "" : ": ", base::Sv(s.message()));
  // The line carries the command line's own "kiln: error:" wording (the same text goes to the
  // terminal below), so it is logged as it is.
  log::Log(log::Level::kNotice, line);
  line.push_back('\n');
  if (g_startup_stderr >= 0) {
    (void)log::WriteLine(g_startup_stderr, line);
  } else if (g_stderr_is_terminal && log::HasServerSinks()) {
    // The line went to the configured logger only; say it where kiln was started too.
    (void)log::WriteLine(STDERR_FILENO, line);
  }
  return 1;
}

// A startup that fails after binding removes the unix socket files it created, so the next
// start finds no stale file (inherited sockets belong to the running master: untouched).
int FailAfterBind(const std::vector<BoundSocket>& sockets, std::string_view what,
                  const absl::Status& s) {
  for (const BoundSocket& b : sockets) {
    if (b.created) {
      net::VacuumUnixSocket(b.spec.address, b.fd.Get());
    }
  }
  return StartupError(what, s);
}

const char* KindText(const net::Address& a) {
  return a.is_tcp() ? "TCP" : (a.kind == net::AddressKind::kAbstract ? "abstract UNIX" : "UNIX");
}

// Does a socket systemd bound (read back with getsockname) serve the configured address?
// Hosts are compared as bound, so `:8080` matches a socket on 0.0.0.0:8080.
bool SameEndpoint(const net::Address& configured, const std::string& bound_text) {
  auto bound = net::ParseAddress(bound_text);
  if (!bound.ok()) {
    return false;
  }
  if (!configured.is_tcp()) {
    return configured == *bound;
  }
  if (bound->kind != configured.kind || bound->port != configured.port) {
    return false;
  }
  // A host name ("localhost") cannot be compared without resolving it: the port decides.
  bool name = configured.host.find_first_not_of("0123456789.:") != std::string::npos;
  return name || configured.host == bound->host;
}

// The kernel silently caps every listen queue at net.core.somaxconn.
void WarnAboveSomaxconn(int backlog) {
  std::ifstream in("/proc/sys/net/core/somaxconn");
  int somaxconn = 0;
  if (in >> somaxconn && somaxconn > 0 && backlog > somaxconn) {
    log::Warn(
        "listen = %d is above net.core.somaxconn (%d): the kernel caps the queue at "
        "%d; raise it with sysctl -w net.core.somaxconn=%d",
        backlog, somaxconn, somaxconn, backlog);
  }
}

// Adopts inherited fds (reload, systemd) by address and binds the rest.
absl::Status BindSockets(const ServerOptions& o, const ReloadContext& rc,
                         std::vector<BoundSocket>* out) {
  bool first_start = rc.generation == 0;
  auto inherited = net::TakeInheritedFds();
  if (!inherited.ok()) {
    return inherited.status();
  }
  std::vector<net::InheritedFd> systemd;
  if (first_start) {
    systemd = net::TakeSystemdFds();
  }
  net::ListenOptions lo;
  lo.backlog = o.listen_backlog;
  lo.mode = o.chmod_socket;
  lo.reuse_port = o.reuse_port;
  lo.defer_accept = !o.no_defer_accept;
  if (!o.chown_socket.empty()) {
    auto own = ResolveOwnership(o.chown_socket);
    if (!own.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "option `chown-socket = %s`: %s", o.chown_socket, base::Sv(own.status().message())));
    }
    lo.owner_uid = own->uid;
    lo.owner_gid = own->gid;
  }
  WarnAboveSomaxconn(o.listen_backlog);
  for (size_t i = 0; i < o.sockets.size(); ++i) {
    const SocketSpec& spec = o.sockets[i];
    BoundSocket bs{spec, base::UniqueFd(), spec.address};
    std::string key = spec.address.ToString();
    const char* how = "bound to";
    for (net::InheritedFd& f : *inherited) {
      if (f.fd >= 0 && f.address == key) {
        bs.fd.Reset(f.fd);
        f.fd = -1;
        how = "inherited on";
        break;
      }
    }
    for (net::InheritedFd& f : systemd) {
      if (!bs.fd && f.fd >= 0 && SameEndpoint(spec.address, f.address)) {
        bs.fd.Reset(f.fd);
        f.fd = -1;
        how = "received from systemd on";
        break;
      }
    }
    if (!bs.fd) {
      auto fd = net::Listen(spec.address, lo);
      if (!fd.ok()) {
        return absl::Status(fd.status().code(),
                            absl::StrFormat("option `%s = %s`: %s", spec.option, spec.text,
                                            base::Sv(fd.status().message())));
      }
      bs.fd = std::move(*fd);
      bs.created = true;
    }
    auto bound = net::BoundAddress(bs.fd.Get());
    if (bound.ok() && bound->is_tcp()) {
      bs.bound = *bound;
      net::DeferAccept(bs.fd.Get(), lo.defer_accept);  // inherited sockets too (systemd's, older kilns')
    }
    log::Notice("kiln %s socket %d %s %s address %s fd %d", spec.http ? "http" : "uwsgi", i, how,
         KindText(bs.bound), bs.bound.ToString(), bs.fd.Get());
    out->push_back(std::move(bs));
  }
  // Sockets the configuration no longer names: closed (removed from disk with vacuum).
  for (net::InheritedFd& f : *inherited) {
    if (f.fd >= 0) {
      base::UniqueFd close_me(f.fd);
      log::Notice("socket %s (fd %d) is no longer configured: closed", f.address, f.fd);
      auto addr = net::ParseAddress(f.address);
      if (o.vacuum && addr.ok() && !rc.check_only) {
        net::VacuumUnixSocket(*addr, -1);
      }
    }
  }
  for (net::InheritedFd& f : systemd) {
    if (f.fd >= 0) {
      // A socket unit with more sockets than the config names: serve them as uwsgi sockets,
      // as uWSGI does.
      auto addr = net::ParseAddress(f.address);
      if (!addr.ok()) {
        base::UniqueFd close_me(f.fd);
        continue;
      }
      SocketSpec spec{"socket", f.address, *addr, false};
      log::Notice("kiln uwsgi socket %d received from systemd on %s fd %d", out->size(), f.address, f.fd);
      out->push_back(BoundSocket{spec, base::UniqueFd(f.fd), *addr});
    }
  }
  if (out->empty()) {
    return absl::InvalidArgumentError(
        "no socket to serve on: give `socket = /path.sock` (uwsgi protocol, for nginx's "
        "uwsgi_pass) or `http-socket = 127.0.0.1:8080`");
  }
  return absl::OkStatus();
}

void Banner(const ServerOptions& o, const ReloadContext& rc) {
  char date[64];
  time_t t = time(nullptr);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
  log::Notice("*** Starting kiln %s (%dbit) on [%s] ***", KILN_VERSION_STRING, sizeof(void*) * 8, date);
  log::Notice("detected binary path: %s", rc.exe);
  log::Notice("current working directory: %s", rc.cwd);
  if (rc.generation > 0) {
    log::Notice(
        "reload %d: %d worker(s) of the previous generation keep serving until this one is "
        "ready",
        rc.generation, rc.old_workers.size());
  }
  log::Notice("your processes number limit is %d", static_cast<int>(sysconf(_SC_CHILD_MAX)));
  log::Notice("your mercy for graceful operations on workers is %s",
       absl::FormatDuration(o.worker_reload_mercy));
  if (o.worker_reload_mercy > absl::Hours(1)) {
    log::Warn(
        "worker-reload-mercy is read as seconds (%s), as uWSGI does; a stuck worker "
        "can hold a reload that long",
        absl::FormatDuration(o.worker_reload_mercy));
  }
}

// Appends the configuration's stray keys ("app.ini:3: `moduel` is not an option; did you mean
// `module` (python plugin)?"), each as a sentence: the likely reason no app is configured.
void AppendStrayKeys(const config::Config& cfg, std::string* msg) {
  for (const std::string& line : cfg.StrayKeys()) {
    absl::StrAppend(msg, msg->ends_with('?') ? " " : ". ", line);
  }
}

// What answers requests when no handler plugin is loaded. Under need-app nothing would, and a
// server that starts anyway looks healthy to its health checks: refuse, naming the likely
// typo. need-app = false starts and answers 500 (as uWSGI); `builtin-handler = true` asks for
// kiln's test handler.
absl::Status CheckSomethingAnswers(const config::Config& cfg, const ServerOptions& o,
                                   const net::ServeOptions& serve, Application& app) {
  if (app.handler() != nullptr) {
    if (serve.builtin_handler) {
      log::Warn("builtin-handler = true is ignored: a handler plugin answers requests");
    }
    return absl::OkStatus();
  }
  if (serve.builtin_handler) {
    log::Notice(
        "no handler plugin loaded: kiln's built-in test handler answers every request "
        "(builtin-handler = true); it is no application");
    return absl::OkStatus();
  }
  if (!o.need_app) {
    log::Warn("*** no app loaded: every request gets 500 (need-app = false) ***");
    return absl::OkStatus();
  }
  std::string msg = "no application is configured: nothing answers requests (need-app = true)";
  AppendStrayKeys(cfg, &msg);
  absl::StrAppend(&msg, msg.ends_with('?') ? " " : ". ",
                  "Name the application (`module = app:app` or `wsgi-file = app.py` for "
                  "Python, `lua = app.lua` for Lua; kiln --help lists every option), or set "
                  "`need-app = false` to start and answer 500, or `builtin-handler = true` for "
                  "kiln's built-in test handler");
  return absl::FailedPreconditionError(msg);
}

absl::Status SetupHost(const ServerOptions& o, const ReloadContext& rc, const DropPlan& plan) {
  // daemonize / logto first, so every later line lands in the log (docs/decisions.md 11).
  LogOwner owner;
  if (plan.user) {
    owner.uid = plan.user->uid;
    owner.gid = plan.user->primary_gid;
  }
  if (plan.gid) {
    owner.gid = *plan.gid;
  }
  // fd 1/2 follow the server log file (daemonize, logto, or a `file:` logger), so what the
  // application prints lands there too; touch-logreopen points them at the file again.
  const std::string& log = o.daemonize.empty() ? o.stdio_log : o.daemonize;
  if (!rc.check_only && !o.daemonize.empty() && rc.generation == 0) {
    g_stderr_is_terminal = false;
    KILN_RETURN_IF_ERROR(Daemonize(o.daemonize, owner));
  }
  if (!rc.check_only && !log.empty()) {
    // Reopened on every reload, which completes a log rotation. A reopen that fails (the
    // file was made root-only) keeps the file already open rather than failing the reload.
    if (rc.generation == 0 && o.daemonize.empty() && g_startup_stderr < 0) {
      g_startup_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    }
    log::FileOptions fo;
    if (owner.uid != static_cast<uid_t>(-1)) fo.uid = owner.uid;
    if (owner.gid != static_cast<gid_t>(-1)) fo.gid = owner.gid;
    absl::Status s = log::SetStdioTarget(log, fo);
    g_stderr_is_terminal = false;
    if (!s.ok() && rc.generation == 0) {
      return s;
    }
    if (!s.ok()) {
      log::Warn("cannot reopen the log file: %s; logging on to the file already open",
           base::Sv(s.message()));
    }
  }
  if (!rc.check_only) {
    KILN_RETURN_IF_ERROR(log::EnableSharedReopen());
  }
  if (o.umask) {
    umask(*o.umask);
  }
  KILN_RETURN_IF_ERROR(ApplyEnvironment(o.env, o.unenv));
  if (!o.chdir.empty()) {
    if (chdir(o.chdir.c_str()) != 0) {
      return base::ErrnoError(errno, "chdir", o.chdir);
    }
    log::Notice("chdir() to %s", o.chdir);
  }
  return absl::OkStatus();
}

// logto2: fd 1/2 (and so the server log, when no logger is set) move to the file now that
// privileges are dropped, so it is opened, and created, as the user kiln runs as. Opened by
// log::OpenLogFile's rules (no final symlink, a regular file owned by that user or root).
absl::Status PointLogAfterDrop(const ServerOptions& o, const ReloadContext& rc) {
  if (o.logto2.empty() || rc.check_only) {
    return absl::OkStatus();
  }
  // Where kiln was started keeps hearing of a failed start, as with logto.
  const int startup_stderr = rc.generation == 0 && o.daemonize.empty() && g_startup_stderr < 0
                                 ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)
                                 : -1;
  absl::Status s = log::SetStdioTarget(o.logto2, log::FileOptions{});
  if (s.ok()) {
    if (startup_stderr >= 0) g_startup_stderr = startup_stderr;
    g_stderr_is_terminal = false;
    return s;
  }
  if (startup_stderr >= 0) close(startup_stderr);
  if (rc.generation == 0) {
    return s;
  }
  log::Warn("cannot reopen the logto2 file: %s; logging on to the file already open",
            base::Sv(s.message()));
  return absl::OkStatus();
}

}  // namespace

int RunServer(const config::Config& cfg, Application& app, const std::vector<std::string>& argv) {
  ReloadContext rc = TakeReloadContext(argv);
  EmperorFd();  // a vassal's emperor link turns close-on-exec before anything can fork
  rc.exe = SelfExePath();
  // A reload (or its check copy) inherits fd 2 pointed at the log already.
  g_stderr_is_terminal = rc.generation == 0 && !rc.check_only;
  auto options = ServerOptions::FromConfig(cfg);
  if (!options.ok()) {
    return StartupError("", cfg.Locate(options.status()));
  }
  auto serve = net::ServeOptions::FromConfig(cfg);
  if (!serve.ok()) {
    return StartupError("", cfg.Locate(serve.status()));
  }
  const ServerOptions& o = *options;
  // Before sockets, the pidfile and logto/daemonize are set up: nothing to clean up.
  if (absl::Status s = CheckSomethingAnswers(cfg, o, *serve, app); !s.ok()) {
    return StartupError("", s);
  }
  // Hooks change things outside kiln: the check copy of a reload runs none.
  const bool run_hooks = !rc.check_only;
  if (absl::Status s = run_hooks ? RunHooks(o.hooks, HookPhase::kAsap) : absl::OkStatus();
      !s.ok()) {
    return StartupError("", s);
  }
  auto plan = PlanPrivilegeDrop(o.uid, o.gid);
  if (!plan.ok()) {
    return StartupError(o.uid.empty() ? "option `gid`" : "option `uid`/`gid`", plan.status());
  }
  if (absl::Status s = SetupHost(o, rc, *plan); !s.ok()) {
    return StartupError("", s);
  }
  if (!rc.check_only) {
    Banner(o, rc);
  }
  if (absl::Status s = run_hooks ? RunJailHooks(o, rc) : absl::OkStatus(); !s.ok()) {
    return StartupError("", s);
  }
  std::vector<BoundSocket> sockets;
  if (absl::Status s = BindSockets(o, rc, &sockets); !s.ok()) {
    return FailAfterBind(sockets, "", s);
  }
  if (!o.pidfile.empty() && !rc.check_only) {
    if (absl::Status s = WritePidfile(o.pidfile, getpid()); !s.ok()) {
      if (rc.generation == 0) {
        return FailAfterBind(sockets, "option `pidfile`", s);
      }
      log::Warn("cannot rewrite the pidfile after the reload: %s", base::Sv(s.message()));
    }
  }
  if (absl::Status s = run_hooks ? WriteExtraPidfiles(o.safe_pidfile, "", rc) : absl::OkStatus();
      !s.ok()) {
    return FailAfterBind(sockets, "option `safe-pidfile`", s);
  }
  if (absl::Status s = ApplyLimitAs(o.limit_as_bytes); !s.ok()) {
    return FailAfterBind(sockets, "option `limit-as`", s);
  }
  ApplyMaxFd(o.max_fd);
  if (geteuid() == 0 && run_hooks) {
    if (absl::Status s = RunHooks(o.hooks, HookPhase::kAsRoot); !s.ok()) {
      return FailAfterBind(sockets, "", s);
    }
  }
  if (absl::Status s = KeepCapabilitiesAcrossDrop(o.caps, *plan); !s.ok()) {
    return FailAfterBind(sockets, "option `cap`", s);
  }
  // The master FIFO is made as root (its directory may be root's), owned by the user kiln
  // drops to so the master can still read it.
  std::optional<MasterFifo> fifo;
  // A start-up that fails from here on leaves no FIFO behind; the master removes it at exit.
  absl::Cleanup remove_fifo = [&fifo] {
    if (fifo) {
      fifo->Remove();
    }
  };
  if (!o.master_fifo.empty() && !rc.check_only) {
    std::optional<uid_t> fifo_uid;
    std::optional<gid_t> fifo_gid = plan->gid;
    if (plan->user) {
      fifo_uid = plan->user->uid;
      fifo_gid = fifo_gid ? fifo_gid : plan->user->primary_gid;
    }
    auto made = MasterFifo::Create(o.master_fifo, fifo_uid, fifo_gid);
    if (made.ok()) {
      fifo = std::move(*made);
    } else if (rc.generation == 0) {
      return FailAfterBind(sockets, "option `master-fifo`", made.status());
    } else {  // a reload must not stop a serving server over its control FIFO
      log::Error("reload: %s; serving on without the master FIFO", base::Sv(made.status().message()));
    }
  }
  auto dropped = DropPrivileges(*plan);
  if (!dropped.ok()) {
    return FailAfterBind(sockets, "privilege drop", dropped.status());
  }
  for (const std::string& line : *dropped) {
    log::Notice("%s", line);
  }
  if (absl::Status s = PointLogAfterDrop(o, rc); !s.ok()) {
    return FailAfterBind(sockets, "option `logto2`", s);
  }
  if (absl::Status s = RestoreCapabilities(o.caps, *plan); !s.ok()) {
    return FailAfterBind(sockets, "option `cap`", s);
  }
  if (run_hooks) {
    absl::Status s = WriteExtraPidfiles(o.pidfile2, o.safe_pidfile2, rc);
    if (!s.ok()) {
      return FailAfterBind(sockets, "option `pidfile2`", s);
    }
    if (s = RunHooks(o.hooks, HookPhase::kAsUser); !s.ok()) {
      return FailAfterBind(sockets, "", s);
    }
  }
  if (std::optional<std::string> w = RootWarning(*plan, geteuid()); w && !rc.check_only) {
    log::Warn("%s", *w);
  }
  if (absl::Status s = app.MasterStart(); !s.ok()) {
    return FailAfterBind(sockets, "master start", s);
  }
  if (!o.lazy_apps) {
    if (absl::Status s = run_hooks ? RunHooks(o.hooks, HookPhase::kPreApp) : absl::OkStatus();
        !s.ok()) {
      return FailAfterBind(sockets, "", s);
    }
    if (absl::Status s = app.AppLoad(); !s.ok()) {
      if (o.need_app) {
        std::string msg(s.message());
        AppendStrayKeys(cfg, &msg);
        return FailAfterBind(sockets, "the application failed to load (need-app = true)",
                             absl::Status(s.code(), msg));
      }
      log::Error("*** the application failed to load: %s; serving 500s (need-app = false) ***",
           base::Sv(s.message()));
    }
    if (absl::Status s = run_hooks ? RunHooks(o.hooks, HookPhase::kPostApp) : absl::OkStatus();
        !s.ok()) {
      return FailAfterBind(sockets, "", s);
    }
  }
  if (rc.check_only) {
    log::Notice("reload check: configuration, sockets and application are fine");
    return 0;
  }
  CloseStartupStderr();  // started: from here on the log file says everything
  if (!o.master && o.processes > 1) {
    // uWSGI forks the other workers without a master, and none that dies is replaced. An
    // operator asking for N processes wants N serving: kiln runs its master to keep them
    // (docs/decisions.md 35).
    log::Notice(
        "processes = %d without master: kiln runs a master to supervise the %d workers, as "
        "`master = true` would",
        o.processes, o.processes);
  }
  if (!o.master && o.processes <= 1) {
    // No master and one process: this process is worker 1 and serves until a signal stops it.
    std::vector<net::ListenSocket> ls;
    for (const BoundSocket& s : sockets) {
      ls.push_back(net::ListenSocket{s.fd.Get(),
                                     s.spec.http ? net::Protocol::kHttp : net::Protocol::kUwsgi,
                                     s.bound.ToString(), s.bound.is_tcp()});
    }
    auto sb = Scoreboard::Create(1, serve->threads);
    if (!sb.ok()) {
      return FailAfterBind(sockets, "", sb.status());
    }
    app.ScoreboardMapped(*sb);
    if (!o.stats.empty()) {  // the stats server lives in the master's loop
      log::Warn("stats = %s needs `master = true`: no stats server without a master", o.stats);
    }
    log::Notice("spawned kiln worker 1 (pid: %d, cores: %d) without a master", getpid(), serve->threads);
    NotifySystemd("READY=1");
    WorkerParams wp{1, 0, &o, &*serve, ls, &app, &*sb, o.lazy_apps};
    int code = RunWorker(wp);
    RunAtexitHooks(o);
    app.Shutdown();
    return code;
  }
  if (!o.hooks.at(HookPhase::kAcceptingOnce).empty() ||
      !o.hooks.at(HookPhase::kAccepting1Once).empty()) {
    PrepareFirstAccepting(o.processes);
  }
  MasterParams mp;
  mp.options = &o;
  mp.serve = &*serve;
  mp.app = &app;
  mp.sockets = &sockets;
  mp.reload = rc;
  mp.fifo = fifo ? &*fifo : nullptr;
  std::move(remove_fifo).Cancel();
  Master master(std::move(mp));
  return master.Run();
}

}  // namespace kiln::process
