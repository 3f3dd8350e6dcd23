// Logger spec parsing and the scheme table: which plugin opens `file:`, `syslog:`, ...
#include "core/log/sink_spec.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/strings.h"
#include "core/log/route.h"

namespace kiln::log {
namespace {

bool IsSchemeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

SinkSpec ParseSinkSpec(std::string_view spec) {
  if (spec == "stderr" || spec == "stdout") {
    return {std::string(spec), ""};
  }
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos && !spec.empty() &&
      std::all_of(spec.begin(), spec.end(), IsSchemeChar)) {
    // A bare name is a logger plugin with no argument, as in uWSGI (`logger = syslog`); a
    // file needs a '/' or a '.' in its name (`./syslog`, `app.log`).
    return {std::string(spec), ""};
  }
  if (colon != std::string_view::npos && colon > 0) {
    std::string_view scheme = spec.substr(0, colon);
    bool ok = true;
    for (char c : scheme) {
      ok = ok && IsSchemeChar(c);
    }
    if (ok) {
      return {std::string(scheme), std::string(spec.substr(colon + 1))};
    }
  }
  return {"", std::string(spec)};
}

absl::Status SchemeTable::Register(std::string scheme, std::string provider, SchemeOpener opener) {
  auto it = entries_.find(scheme);
  if (it != entries_.end()) {
    return absl::AlreadyExistsError(
        absl::StrFormat("logger scheme `%s` is provided by both plugin %s and plugin %s", scheme,
                        it->second.provider, provider));
  }
  entries_.emplace(std::move(scheme), Entry{std::move(provider), std::move(opener)});
  return absl::OkStatus();
}

const SchemeOpener* SchemeTable::Find(std::string_view scheme) const {
  auto it = entries_.find(scheme);
  return it == entries_.end() ? nullptr : &it->second.opener;
}

std::string SchemeTable::Provider(std::string_view scheme) const {
  auto it = entries_.find(scheme);
  return it == entries_.end() ? "" : it->second.provider;
}

std::vector<std::string> SchemeTable::Schemes() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) {
    out.push_back(name);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Sink>> OpenSink(std::string_view spec, const SchemeTable& schemes,
                                               const FileOptions& file_options) {
  SinkSpec parsed = ParseSinkSpec(spec);
  if (parsed.scheme == "stderr") {
    return std::unique_ptr<Sink>(new FdSink(STDERR_FILENO, "stderr"));
  }
  if (parsed.scheme == "stdout") {
    return std::unique_ptr<Sink>(new FdSink(STDOUT_FILENO, "stdout"));
  }
  if (parsed.scheme.empty()) {
    absl::StatusOr<std::unique_ptr<FileSink>> file = FileSink::Open(parsed.arg, file_options);
    if (!file.ok()) {
      return file.status();
    }
    return std::unique_ptr<Sink>(std::move(*file));
  }
  const SchemeOpener* opener = schemes.Find(parsed.scheme);
  if (opener == nullptr) {
    std::vector<std::string> known = schemes.Schemes();
    return absl::NotFoundError(absl::StrFormat(
        "logger `%s`: no loaded plugin provides the scheme `%s:` (known schemes: %s); load the "
        "plugin that does, e.g. `plugins = logfile` for file:",
        spec, parsed.scheme, known.empty() ? "none" : absl::StrJoin(known, ", ")));
  }
  absl::StatusOr<std::unique_ptr<Sink>> sink = (*opener)(parsed.arg);
  if (!sink.ok()) {
    return absl::Status(sink.status().code(), absl::StrFormat("logger `%s`: %s", spec,
                                                              base::Sv(sink.status().message())));
  }
  return sink;
}

std::string StdioLogPath(std::string_view logto, const std::vector<std::string>& loggers) {
  if (!logto.empty()) {
    return std::string(logto);
  }
  for (const std::string& spec : loggers) {
    if (ParseNamedLogger(spec)) {
      continue;  // a named logger gets only routed lines, not what the application prints
    }
    SinkSpec parsed = ParseSinkSpec(spec);
    if ((parsed.scheme.empty() || parsed.scheme == "file") && !parsed.arg.empty()) {
      return parsed.arg;
    }
  }
  return "";
}

}  // namespace kiln::log
