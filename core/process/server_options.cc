// ServerOptions from the Config: the one file of core/process that reads option names.
#include "core/process/server_options.h"

#include "absl/strings/str_format.h"
#include "core/base/strings.h"
#include "core/config/config.h"
#include "core/log/sink_spec.h"
#include "core/net/listener.h"

namespace kiln::process {
namespace {

absl::Status InOption(std::string_view option, std::string_view value, const absl::Status& s) {
  return absl::Status(
      s.code(), absl::StrFormat("option `%s = %s`: %s", option, value, base::Sv(s.message())));
}

}  // namespace

absl::StatusOr<std::vector<SocketSpec>> ParseSockets(const std::vector<std::string>& uwsgi,
                                                     const std::vector<std::string>& http) {
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
    if (auto s = add("socket", t, false); !s.ok()) {
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
  auto sockets = ParseSockets(cfg.GetList("socket"), http);
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
  o.need_app = cfg.GetFlag("need-app");
  o.lazy_apps = cfg.GetFlag("lazy-apps");
  o.harakiri = cfg.GetDuration("harakiri");
  o.harakiri_verbose = cfg.GetFlag("harakiri-verbose");
  int64_t max_requests = cfg.GetNumber("max-requests");
  o.max_requests = max_requests > 0 ? static_cast<uint64_t>(max_requests) : 0;
  o.reload_on_rss_bytes = cfg.GetSize("reload-on-rss");
  o.max_worker_lifetime = cfg.GetDuration("max-worker-lifetime");
  o.min_worker_lifetime = cfg.GetDuration("min-worker-lifetime");
  o.reload_mercy = cfg.GetDuration("reload-mercy");
  o.worker_reload_mercy = cfg.GetDuration("worker-reload-mercy");
  o.die_on_term = cfg.GetFlag("die-on-term");
  o.touch_reload = cfg.GetList("touch-reload");
  o.touch_logreopen = cfg.GetList("touch-logreopen");
  o.procname_prefix = cfg.GetString("procname-prefix");
  o.auto_procname = cfg.GetFlag("auto-procname");
  o.attach_daemons = cfg.GetList("attach-daemon");
  return o;
}

}  // namespace kiln::process
