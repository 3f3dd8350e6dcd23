// The uWSGI option table (generated from uwsgi_option_names*.tsv) and what kiln offers instead
// of the options it does not support. See uwsgi_options.h.
#include "core/config/uwsgi_options.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace kiln::config {
namespace {

const std::vector<UwsgiOption>& Table() {
  static const auto* table = [] {
    auto* rows = new std::vector<UwsgiOption>{
#include "core/config/uwsgi_option_names.inc"
    };
    std::sort(rows->begin(), rows->end(),
              [](const UwsgiOption& a, const UwsgiOption& b) { return a.name < b.name; });
    // A name both tsvs list keeps its first owner.
    rows->erase(std::unique(rows->begin(), rows->end(),
                            [](const UwsgiOption& a, const UwsgiOption& b) {
                              return a.name == b.name;
                            }),
                rows->end());
    return rows;
  }();
  return *table;
}

// What to use instead, for the unsupported options people reach for. A pattern ending in `*`
// matches every name with that prefix; the first match wins. Only what is true of kiln.
struct Replacement {
  std::string_view pattern;
  std::string_view text;
};

constexpr std::string_view kThreads =
    "use `threads` for concurrent blocking requests (each worker's event loop already holds "
    "idle and slow connections without a thread), or serve an async app with `asgi`";
constexpr std::string_view kNginxRoute =
    "do the routing in nginx in front of kiln (`location`, `rewrite`, `return`)";
constexpr std::string_view kRouter =
    "kiln has no router process: put nginx or HAProxy in front of kiln";
constexpr std::string_view kStats = "kiln's `stats` server gives the numbers to a collector";

constexpr std::string_view kStaticMap =
    "kiln's static-map has `static-gzip-all` and `static-expires`; for more, serve the files "
    "with nginx (`gzip_static`, `expires`)";

constexpr Replacement kReplacements[] = {
    {"gevent*", kThreads},
    {"async", kThreads},
    {"ugreen*", kThreads},
    {"greenlet*", kThreads},
    {"asyncio*", kThreads},
    {"tornado*", kThreads},
    {"cache", "kiln has no shared cache: use memcached or redis from the application"},
    {"cache2", "kiln has no shared cache: use memcached or redis from the application"},
    {"cache-*", "kiln has no shared cache: use memcached or redis from the application"},
    {"route", kNginxRoute},
    {"route-*", kNginxRoute},
    {"final-route*", kNginxRoute},
    {"error-route*", kNginxRoute},
    {"response-route*", kNginxRoute},
    {"spooler*", "kiln's spooler has `spooler`, `spooler-processes`, `spooler-frequency`, "
                 "`spooler-harakiri`, `spooler-ordered` and `spooler-quiet` (docs/spooler.md)"},
    {"spool*", "kiln's spooler has `spooler`, `spooler-processes`, `spooler-frequency`, "
               "`spooler-harakiri`, `spooler-ordered` and `spooler-quiet` (docs/spooler.md)"},
    {"mule*", "kiln has no mules: run background work as a command with `attach-daemon`"},
    {"farm*", "kiln has no mules: run background work as a command with `attach-daemon`"},
    {"emperor*", "docs/emperor.md lists the emperor settings kiln has"},
    {"vassal*", "docs/emperor.md lists the emperor settings kiln has"},
    {"websocket*", "kiln serves WebSockets for ASGI apps with `websocket-max-size`; it sends no "
                   "pings of its own (docs/websocket.md)"},
    {"websockets*", "kiln serves WebSockets for ASGI apps with `websocket-max-size`; it sends "
                    "no pings of its own (docs/websocket.md)"},
    {"https*", "terminate TLS in nginx in front of kiln"},
    {"ssl-*", "terminate TLS in nginx in front of kiln"},
    {"fastrouter*", kRouter},
    {"rawrouter*", kRouter},
    {"sslrouter*", kRouter},
    {"forkptyrouter*", kRouter},
    {"static-*", kStaticMap},
    {"evil-reload-on-as", "use `reload-on-rss`"},
    {"evil-reload-on-rss", "use `reload-on-rss`"},
    {"carbon-max-retry", "kiln retries a failed carbon push at the next carbon-freq"},
    {"carbon-retry-delay", "kiln retries a failed carbon push at the next carbon-freq"},
    {"carbon-name-resolve", "kiln resolves `carbon` host names once, at start"},
    {"carbon-resolve-names", "kiln resolves `carbon` host names once, at start"},
    {"carbon-idle-avg", "kiln pushes the last averages when idle (uWSGI's default `last`)"},
    {"carbon-use-metrics", kStats},
    {"stats-push*", kStats},
    {"zabbix*", kStats},
    {"rrdtool*", kStats},
    {"alarm-fd", "kiln's alarms are raised by alarm-segfault, alarm-listen-queue and log-alarm"},
    {"alarm-metric", kStats},
    {"alarm-msg-size", "kiln cuts alarm messages at 8192 bytes (uWSGI's default)"},
    {"alarm-cheap", "kiln's alarms run in the master's loop, without threads"},
    {"alarm-list", "kiln's alarm actions are `cmd` and `log`"},
    {"alarms-list", "kiln's alarm actions are `cmd` and `log`"},
    {"xmlconfig", "kiln reads ini files: write the configuration as ini"},
    {"xml", "kiln reads ini files: write the configuration as ini"},
    {"yaml", "kiln reads ini files: write the configuration as ini"},
    {"yml", "kiln reads ini files: write the configuration as ini"},
    {"json", "kiln reads ini files: write the configuration as ini"},
    {"js", "kiln reads ini files: write the configuration as ini"},
};

bool Matches(std::string_view pattern, std::string_view name) {
  if (pattern.ends_with('*')) {
    pattern.remove_suffix(1);
    return name.starts_with(pattern);
  }
  return name == pattern;
}

// uWSGI's plugin names carry the language version Debian built them for ("python311",
// "lua51"); users know them as "python" and "lua".
std::string_view PluginName(std::string_view owner) {
  while (!owner.empty() && absl::ascii_isdigit(static_cast<unsigned char>(owner.back()))) {
    owner.remove_suffix(1);
  }
  return owner;
}

}  // namespace

std::span<const UwsgiOption> UwsgiOptions() { return Table(); }

const UwsgiOption* FindUwsgiOption(std::string_view name) {
  const std::vector<UwsgiOption>& table = Table();
  auto it = std::lower_bound(table.begin(), table.end(), name,
                             [](const UwsgiOption& o, std::string_view n) { return o.name < n; });
  return it != table.end() && it->name == name ? &*it : nullptr;
}

std::string UwsgiReplacement(std::string_view name) {
  for (const Replacement& r : kReplacements) {
    if (Matches(r.pattern, name)) return std::string(r.text);
  }
  const UwsgiOption* option = FindUwsgiOption(name);
  if (option != nullptr && option->owner == "http") {
    return "kiln has no HTTP router process: its workers serve `http` themselves; route and "
           "terminate TLS in nginx";
  }
  return "";
}

std::string NotSupportedMessage(const UwsgiOption& option) {
  std::string owner = option.owner == "core"
                          ? std::string("core")
                          : absl::StrFormat("%s plugin", PluginName(option.owner));
  std::string instead = UwsgiReplacement(option.name);
  return absl::StrFormat("`%s` is a uWSGI option (%s) not supported by kiln; ignored%s",
                         option.name, owner, instead.empty() ? "" : "; " + instead);
}

}  // namespace kiln::config
