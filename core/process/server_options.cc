// ServerOptions from the Config: the one file of core/process that reads option names.
#include "core/process/server_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/config/config.h"
#include "core/log/logger.h"
#include "core/log/sink_spec.h"
#include "core/net/listener.h"

namespace kiln::process {
namespace {

absl::Status InOption(std::string_view option, std::string_view value, const absl::Status& s) {
  return absl::Status(
      s.code(), absl::StrFormat("option `%s = %s`: %s", option, value, base::Sv(s.message())));
}

// hook-<phase> and exec-<phase> for every phase; `unix_signal:15 gracefully_kill_them_all`
// asks for what die-on-term = true does, so it sets it.
absl::Status ReadHooks(const config::Config& cfg, ServerOptions* o) {
  for (size_t i = 0; i < kHookPhaseCount; ++i) {
    auto phase = static_cast<HookPhase>(i);
    std::string name = "hook-" + std::string(HookPhaseName(phase));
    for (const std::string& text : cfg.GetList(name)) {
      auto action = ParseHookAction(text);
      if (!action.ok()) {
        return InOption(name, text, action.status());
      }
      if (action->action == "unix_signal" && action->arg.starts_with("15 ")) {
        o->die_on_term = true;
      }
      o->hooks.at(phase).push_back(std::move(*action));
    }
    if (HookPhaseHasExec(phase)) {
      for (const std::string& command : cfg.GetList("exec-" + std::string(HookPhaseName(phase)))) {
        o->hooks.at(phase).push_back(ExecHookAction(command));
      }
    }
  }
  return absl::OkStatus();
}

// The smaller process options of uWSGI files: chdir2, limit-as, the other pidfiles,
// max-requests-delta, procname-prefix-spaced, cron, attach-daemon2, cap, and the hooks.
absl::Status ReadOperationsOptions(const config::Config& cfg, ServerOptions* o) {
  o->chdir2 = cfg.GetString("chdir2");
  o->reload_on_exception = cfg.GetFlag("reload-on-exception");
  o->limit_as_bytes = cfg.GetSize("limit-as");
  o->max_fd = cfg.GetNumber("max-fd");
  o->safe_pidfile = cfg.GetString("safe-pidfile");
  o->pidfile2 = cfg.GetString("pidfile2");
  o->safe_pidfile2 = cfg.GetString("safe-pidfile2");
  int64_t delta = cfg.GetNumber("max-requests-delta");
  o->max_requests_delta = delta > 0 ? static_cast<uint64_t>(delta) : 0;
  if (cfg.Has("procname-prefix-spaced")) {
    o->procname_prefix = absl::StrCat(cfg.GetString("procname-prefix-spaced"), " ");
  }
  if (cfg.GetFlag("lazy")) {
    o->lazy_apps = true;
  }
  for (const std::string& text : cfg.GetList("cron")) {
    auto e = ParseCron(text);
    if (!e.ok()) {
      return InOption("cron", text, e.status());
    }
    o->crons.push_back(std::move(*e));
  }
  for (const std::string& text : cfg.GetList("cron2")) {
    auto e = ParseCron2(text);
    if (!e.ok()) {
      return InOption("cron2", text, e.status());
    }
    o->crons.push_back(std::move(*e));
  }
  if (!o->crons.empty() && !o->master) {
    return absl::InvalidArgumentError(
        "option `cron` needs `master = true`: the master runs the commands (as uWSGI)");
  }
  for (const std::string& text : cfg.GetList("attach-daemon2")) {
    auto command = ParseAttachDaemon2(text);
    if (!command.ok()) {
      return InOption("attach-daemon2", text, command.status());
    }
    o->attach_daemons.push_back(std::move(*command));
  }
  for (const std::string& text : cfg.GetList("cap")) {
    for (absl::string_view c : absl::StrSplit(text, ',', absl::SkipEmpty())) {
      o->caps.emplace_back(c);
    }
  }
  return ReadHooks(cfg, o);
}

// The cheaper family (uWSGI core/init.c's checks): `cheaper` below `processes`, with a master;
// cheaper-initial clamped into [cheaper, processes] with a warning, as uWSGI does.
absl::Status ReadCheaper(const config::Config& cfg, ServerOptions* o) {
  CheaperOptions& c = o->cheaper;
  c.max = o->processes;
  int64_t min = cfg.GetNumber("cheaper");
  if (min <= 0) {
    return absl::OkStatus();
  }
  if (min >= o->processes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `cheaper = %d`: must be lower than processes (%d), the most workers cheaper "
        "mode may run",
        min, o->processes));
  }
  if (!o->master) {
    return absl::InvalidArgumentError(
        absl::StrFormat("option `cheaper = %d`: needs `master = true`", min));
  }
  c.min = static_cast<int>(min);
  int64_t initial = cfg.GetNumber("cheaper-initial");
  if (initial == 0) {
    initial = min;
  } else if (initial < min) {
    log::Warn("cheaper-initial = %d is below cheaper (%d): starting %d workers", initial, min, min);
    initial = min;
  } else if (initial > o->processes) {
    log::Warn("cheaper-initial = %d is above processes (%d): starting %d workers", initial,
              o->processes, o->processes);
    initial = o->processes;
  }
  c.initial = static_cast<int>(initial);
  struct {
    const char* name;
    int* field;
    int64_t lowest;
  } numbers[] = {
      {"cheaper-step", &c.step, 1},
      {"cheaper-overload", &c.overload, 1},
      {"cheaper-busyness-min", &c.busyness_min, 0},
      {"cheaper-busyness-max", &c.busyness_max, 1},
      {"cheaper-busyness-multiplier", &c.busyness_multiplier, 1},
      {"cheaper-busyness-penalty", &c.busyness_penalty, 0},
      {"cheaper-busyness-backlog-alert", &c.busyness_backlog_alert, 0},
      {"cheaper-busyness-backlog-multiplier", &c.busyness_backlog_multiplier, 1},
      {"cheaper-busyness-backlog-step", &c.busyness_backlog_step, 1},
      {"cheaper-busyness-backlog-nonzero", &c.busyness_backlog_nonzero, 1},
  };
  for (const auto& n : numbers) {
    int64_t v = cfg.GetNumber(n.name);
    if (v < n.lowest || v > 1'000'000) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "option `%s = %d`: expected a number from %d to 1000000", n.name, v, n.lowest));
    }
    *n.field = static_cast<int>(v);
  }
  if (c.busyness_min >= c.busyness_max || c.busyness_max > 100) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "options `cheaper-busyness-min = %d`, `cheaper-busyness-max = %d`: expected percentages "
        "with min below max",
        c.busyness_min, c.busyness_max));
  }
  c.busyness_verbose = cfg.GetFlag("cheaper-busyness-verbose");
  std::string algo = cfg.GetString("cheaper-algo");
  auto parsed = ParseCheaperAlgo(algo);
  if (!parsed.ok()) {
    return InOption("cheaper-algo", algo, parsed.status());
  }
  c.algo = *parsed;
  return absl::OkStatus();
}

}  // namespace

uint64_t MaxRequestsOfWorker(uint64_t max_requests, uint64_t delta, int worker_id) {
  if (max_requests == 0 || worker_id < 1) {
    return max_requests;
  }
  return max_requests + static_cast<uint64_t>(worker_id - 1) * delta;
}

absl::StatusOr<std::string> ParseAttachDaemon2(std::string_view text) {
  std::string command;
  for (absl::string_view piece : absl::StrSplit(base::Av(text), ',', absl::SkipEmpty())) {
    std::string_view kv = base::Sv(piece);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "`%s` is not `key=value` (attach-daemon2 takes `cmd=COMMAND,...`)", kv));
    }
    std::string_view key = kv.substr(0, eq);
    if (key == "command" || key == "cmd" || key == "exec") {
      command = std::string(kv.substr(eq + 1));
    } else if (key == "freq" || key == "pidfile" || key == "control" || key == "daemonize" ||
               key == "daemon" || key == "touch" || key == "stopsignal" ||
               key == "stop_signal" || key == "reloadsignal" || key == "reload_signal" ||
               key == "stdin" || key == "uid" || key == "gid" || key == "ns_pid" ||
               key == "chdir" || key == "max_throttle" || key == "notifypid" ||
               key == "legion") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the key `%s` is not supported by kiln (it runs `cmd=` under its own restart "
          "backoff, as attach-daemon)",
          key));
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown key `%s` (attach-daemon2 takes `cmd=COMMAND`)", key));
    }
  }
  if (command.empty()) {
    return absl::InvalidArgumentError("no command: give `cmd=COMMAND`");
  }
  return command;
}

absl::StatusOr<std::vector<SocketSpec>> ParseSockets(const std::vector<std::string>& uwsgi,
                                                     const std::vector<std::string>& http,
                                                     bool default_http) {
  std::vector<SocketSpec> out;
  auto add = [&](const std::string& option, const std::string& text, bool is_http) -> absl::Status {
    auto addr = net::ParseAddress(text);
    if (!addr.ok()) {
      return InOption(option, text, addr.status());
    }
    for (const SocketSpec& s : out) {
      if (s.address == *addr) {
        return absl::InvalidArgumentError(
            absl::StrFormat("option `%s = %s`: the address is already given by `%s = %s`", option,
                            text, s.option, s.text));
      }
    }
    out.push_back(SocketSpec{option, text, *addr, is_http});
    return absl::OkStatus();
  };
  for (const std::string& t : uwsgi) {
    if (auto s = add("socket", t, default_http); !s.ok()) {
      return s;
    }
  }
  for (const std::string& t : http) {
    if (auto s = add("http-socket", t, true); !s.ok()) {
      return s;
    }
  }
  return out;
}

absl::StatusOr<ServerOptions> ServerOptions::FromConfig(const config::Config& cfg) {
  ServerOptions o;
  o.master = cfg.GetFlag("master");
  o.processes = static_cast<int>(cfg.GetNumber("processes"));
  o.threads = static_cast<int>(cfg.GetNumber("threads"));
  if (o.processes < 1 || o.processes > 4096) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `processes = %d`: expected a number of workers from 1 to 4096", o.processes));
  }
  if (o.threads < 1 || o.threads > 1024) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `threads = %d`: expected a number of threads from 1 to 1024", o.threads));
  }
  std::vector<std::string> http = cfg.GetList("http-socket");
  for (const std::string& h : cfg.GetList("http")) {
    http.push_back(h);  // served directly by the workers: kiln speaks HTTP/1.1 itself
  }
  // protocol: what `socket` speaks (uWSGI's default protocol for its default sockets).
  std::string protocol = cfg.GetString("protocol");
  if (!protocol.empty() && protocol != "uwsgi" && protocol != "http") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `protocol = %s`: kiln's sockets speak `uwsgi` or `http`", protocol));
  }
  auto sockets = ParseSockets(cfg.GetList("socket"), http, protocol == "http");
  if (!sockets.ok()) {
    return sockets.status();
  }
  o.sockets = std::move(*sockets);
  int64_t backlog = cfg.GetNumber("listen");
  if (backlog < 1 || backlog > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("option `listen = %d`: expected a queue length from 1 to 65535", backlog));
  }
  o.listen_backlog = static_cast<int>(backlog);
  if (cfg.Has("chmod-socket")) {
    std::string text = cfg.GetString("chmod-socket");
    auto mode = net::ParseSocketMode(text);
    if (!mode.ok()) {
      return InOption("chmod-socket", text, mode.status());
    }
    o.chmod_socket = *mode;
  }
  o.reuse_port = cfg.GetFlag("reuse-port");
  o.no_defer_accept = cfg.GetFlag("no-defer-accept");
  if (cfg.Has("umask")) {
    std::string text = cfg.GetString("umask");
    if (text.empty() || text.size() > 4 ||
        text.find_first_not_of("01234567") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("option `umask = %s`: expected octal digits such as 022 or 0027", text));
    }
    o.umask = static_cast<mode_t>(std::stoul(text, nullptr, 8));
  }
  o.chown_socket = cfg.GetString("chown-socket");
  o.vacuum = cfg.GetFlag("vacuum");
  o.stats = cfg.GetString("stats");
  o.stats_http = cfg.GetFlag("stats-http");
  o.stats_minified = cfg.GetFlag("stats-minified");
  o.uid = cfg.GetString("uid");
  o.gid = cfg.GetString("gid");
  o.chdir = cfg.GetString("chdir");
  o.env = cfg.GetList("env");
  o.unenv = cfg.GetList("unenv");
  o.pidfile = cfg.GetString("pidfile");
  o.daemonize = cfg.GetString("daemonize");
  o.logto = cfg.GetString("logto");
  o.stdio_log = log::StdioLogPath(o.logto, cfg.GetList("logger"));
  o.logto2 = cfg.GetString("logto2");
  if (!o.logto2.empty() && !o.logto.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `logto2` (%s) and option `logto` (%s) both name the log file: keep one "
        "(`logto2` opens it after privileges are dropped, `logto` before)",
        o.logto2, o.logto));
  }
  o.need_app = cfg.GetFlag("need-app");
  o.lazy_apps = cfg.GetFlag("lazy-apps");
  o.harakiri = cfg.GetDuration("harakiri");
  o.harakiri_verbose = cfg.GetFlag("harakiri-verbose");
  int64_t max_requests = cfg.GetNumber("max-requests");
  o.max_requests = max_requests > 0 ? static_cast<uint64_t>(max_requests) : 0;
  o.reload_on_rss_bytes = cfg.GetSize("reload-on-rss");
  o.reload_on_as_bytes = cfg.GetSize("reload-on-as");
  o.max_worker_lifetime = cfg.GetDuration("max-worker-lifetime");
  o.min_worker_lifetime = cfg.GetDuration("min-worker-lifetime");
  o.reload_mercy = cfg.GetDuration("reload-mercy");
  o.worker_reload_mercy = cfg.GetDuration("worker-reload-mercy");
  o.die_on_term = cfg.GetFlag("die-on-term");
  o.drain_delay = cfg.GetDuration("drain-delay");
  o.touch_reload = cfg.GetList("touch-reload");
  o.touch_logreopen = cfg.GetList("touch-logreopen");
  o.procname_prefix = cfg.GetString("procname-prefix");
  o.auto_procname = cfg.GetFlag("auto-procname");
  o.attach_daemons = cfg.GetList("attach-daemon");
  if (absl::Status s = ReadOperationsOptions(cfg, &o); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadCheaper(cfg, &o); !s.ok()) {
    return s;
  }
  // Alarms and carbon (alarms.h, carbon.h).
  auto alarms = ReadAlarmOptions(cfg);
  if (!alarms.ok()) return alarms.status();
  o.alarms = std::move(*alarms);
  auto carbon = ReadCarbonOptions(cfg);
  if (!carbon.ok()) return carbon.status();
  o.carbon = std::move(*carbon);
  o.master_fifo = cfg.GetList("master-fifo");
  if (!o.master_fifo.empty() && !o.master) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `master-fifo = %s`: the master reads it; needs `master = true`",
        o.master_fifo.front()));
  }
  if (o.master_fifo.size() > 10) {
    return absl::InvalidArgumentError(
        "option `master-fifo`: at most 10 (the digits 0-9 select one)");
  }
  o.touch_chain_reload = cfg.GetList("touch-chain-reload");
  if (absl::Status s = ReadSpoolerOptions(cfg, &o.spooler); !s.ok()) {
    return s;
  }
  if (!o.spooler.dirs.empty() && !o.master && o.processes <= 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `spooler = %s`: the master runs the spoolers; needs `master = true`",
        o.spooler.dirs.front()));
  }
  return o;
}

}  // namespace kiln::process
