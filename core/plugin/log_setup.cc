// Configured log targets -> sinks in the process-wide logger. Wiring between config, the
// logger and logger plugins; the opening itself is log::OpenSink's.
#include "core/plugin/log_setup.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"
#include "core/config/values.h"
#include "core/log/route.h"
#include "core/log/rotate.h"
#include "core/log/sink_spec.h"

namespace kiln::plugin {
namespace {

// Where `option` was set, worded as every config message words it.
std::string Place(const config::Config& cfg, std::string_view option) {
  const config::Entry* e = cfg.Where(option);
  return e == nullptr ? config::Place("", 0) : config::Place(e->file, e->line);
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

absl::StatusOr<log::FileOptions> LogFileOptions(const config::Config& cfg) {
  log::FileOptions out;
  std::string mode = cfg.GetString("logfile-chmod");
  if (!mode.empty()) {
    char* end = nullptr;
    long m = std::strtol(mode.c_str(), &end, 8);
    if (*end != '\0' || m < 0 || m > 07777) {
      return absl::InvalidArgumentError(
          absl::StrFormat("option `logfile-chmod` (%s): `%s` is not an octal file mode such as 640",
                          Place(cfg, "logfile-chmod"), mode));
    }
    out.mode = static_cast<mode_t>(m);
  }
  std::string uid = cfg.GetString("uid");
  if (!uid.empty()) {
    struct passwd* pw =
        AllDigits(uid) ? ::getpwuid(static_cast<uid_t>(std::stoul(uid))) : ::getpwnam(uid.c_str());
    if (pw != nullptr) {
      out.uid = pw->pw_uid;
      out.gid = pw->pw_gid;
    } else if (AllDigits(uid)) {
      out.uid = static_cast<uid_t>(std::stoul(uid));
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("option `uid` (%s): no user named `%s`", Place(cfg, "uid"), uid));
    }
  }
  std::string gid = cfg.GetString("gid");
  if (!gid.empty()) {
    struct group* gr = AllDigits(gid) ? nullptr : ::getgrnam(gid.c_str());
    if (gr != nullptr) {
      out.gid = gr->gr_gid;
    } else if (AllDigits(gid)) {
      out.gid = static_cast<gid_t>(std::stoul(gid));
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("option `gid` (%s): no group named `%s`", Place(cfg, "gid"), gid));
    }
  }
  return out;
}

absl::Status OpenConfiguredLogs(const config::Config& cfg, const PluginSet& plugins,
                                bool first_start) {
  absl::StatusOr<log::FileOptions> options = LogFileOptions(cfg);
  if (!options.ok()) {
    return options.status();
  }
  std::vector<std::unique_ptr<log::Sink>> server, request;
  auto open = [&](const char* option, const std::string& spec,
                  std::vector<std::unique_ptr<log::Sink>>& into) -> absl::Status {
    absl::StatusOr<std::unique_ptr<log::Sink>> sink =
        log::OpenSink(spec, plugins.LoggerSchemes(), *options);
    if (!sink.ok()) {
      return absl::Status(sink.status().code(),
                          absl::StrFormat("option `%s` (%s): %s", option, Place(cfg, option),
                                          base::Sv(sink.status().message())));
    }
    into.push_back(std::move(*sink));
    return absl::OkStatus();
  };
  std::string logto = cfg.GetString("logto");
  // log-truncate: the logto file starts empty on the first start, not after a reload (the
  // re-executed master goes on writing to it), opened by the same rules as the sink.
  if (!logto.empty() && cfg.GetFlag("log-truncate") && first_start) {
    absl::StatusOr<base::UniqueFd> fd = log::OpenLogFile(logto, *options);
    if (fd.ok() && ftruncate(fd->Get(), 0) != 0) {
      return base::ErrnoError(errno, "option `log-truncate`: ftruncate", logto);
    }
  }
  if (!logto.empty()) {
    // logto is always a path (uWSGI's meaning), never scheme:arg.
    absl::StatusOr<std::unique_ptr<log::FileSink>> file = log::FileSink::Open(logto, *options);
    if (!file.ok()) {
      return absl::Status(file.status().code(),
                          absl::StrFormat("option `logto` (%s): %s", Place(cfg, "logto"),
                                          base::Sv(file.status().message())));
    }
    server.push_back(std::move(*file));
  }
  // `logger = NAME target` is a named logger: it gets only what log-route sends it.
  std::vector<log::NamedSink> named;
  for (const char* option : {"logger", "req-logger"}) {
    for (const std::string& value : cfg.GetList(option)) {
      std::optional<log::NamedLoggerSpec> name = log::ParseNamedLogger(value);
      std::vector<std::unique_ptr<log::Sink>> one;
      absl::Status s = open(option, name ? name->spec : value,
                            name                                  ? one
                            : std::string_view(option) == "logger" ? server
                                                                   : request);
      if (!s.ok()) {
        return s;
      }
      if (!name) continue;
      for (const log::NamedSink& n : named) {
        if (n.name == name->name) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "option `%s` (%s): a logger named `%s` is already configured; give each named "
              "logger its own name",
              option, Place(cfg, option), name->name));
        }
      }
      named.push_back({name->name, std::move(one.front())});
    }
  }
  std::vector<log::LogRoute> routes[2];
  const char* const route_options[2] = {"log-route", "log-req-route"};
  for (int i = 0; i < 2; ++i) {
    for (const std::string& value : cfg.GetList(route_options[i])) {
      absl::StatusOr<log::LogRoute> route = log::LogRoute::Parse(value);
      if (route.ok() && std::none_of(named.begin(), named.end(), [&](const log::NamedSink& n) {
            return n.name == route->logger();
          })) {
        route = absl::NotFoundError(absl::StrFormat(
            "no logger is named `%s`; name one with `logger = %s file:/path` (or another "
            "target)",
            route->logger(), route->logger()));
      }
      if (!route.ok()) {
        return absl::Status(route.status().code(),
                            absl::StrFormat("option `%s` (%s): %s", route_options[i],
                                            Place(cfg, route_options[i]),
                                            base::Sv(route.status().message())));
      }
      routes[i].push_back(std::move(*route));
    }
  }
  log::EncoderChain encoders[2];
  const char* const encoder_options[2] = {"log-encoder", "log-req-encoder"};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<log::EncoderChain> chain =
        log::EncoderChain::Parse(cfg.GetList(encoder_options[i]));
    if (!chain.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "option `%s` (%s): %s", encoder_options[i], Place(cfg, encoder_options[i]),
          base::Sv(chain.status().message())));
    }
    encoders[i] = std::move(*chain);
  }
  log::SetEncoders(std::move(encoders[0]), std::move(encoders[1]));
  if (cfg.Has("log-date")) {
    std::string fmt = cfg.GetString("log-date");
    // A bare `log-date` (read as "true") means uWSGI's default date format.
    log::SetDateFormat(fmt.empty() || fmt == "true" || fmt == "1" ? "%a %b %e %H:%M:%S %Y -" : fmt);
  }
  // Rotation (log-maxsize); the master's loop checks the sizes, so without it nothing rotates.
  log::RotationOptions rotation{.max_size = cfg.GetSize("log-maxsize"),
                                .backup_name = cfg.GetString("log-backupname"),
                                .backup_count = cfg.GetNumber("log-backupcount"),
                                .service_uid = options->uid};
  if (rotation.backup_count < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("option `log-backupcount` (%s): %d is negative; give a count, or 0 to "
                        "keep every rotated file",
                        Place(cfg, "log-backupcount"), rotation.backup_count));
  }
  if (rotation.max_size > 0 && !cfg.GetFlag("master")) {
    log::Warn("log-maxsize (%s) needs `master = true`: without a master no log file is rotated",
              Place(cfg, "log-maxsize"));
  }
  log::SetRotation(std::move(rotation));
  if (!server.empty()) {
    log::SetServerSinks(std::move(server));
  }
  if (!request.empty()) {
    log::SetRequestSinks(std::move(request));
  }
  if (!named.empty()) {
    KILN_RETURN_IF_ERROR(
        log::SetRoutes(std::move(named), std::move(routes[0]), std::move(routes[1])));
  }
  return absl::OkStatus();
}

}  // namespace kiln::plugin
