// Turns a logger spec (`file:/var/log/app.log`, `/var/log/app.log`, `stderr`) into a Sink.
// Schemes come from a table that logger plugins fill through the plugin set; a plain path is
// the core's own file sink (uWSGI's `logto`). Parsing is pure; opening does I/O.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/file_sink.h"
#include "core/log/logger.h"

namespace kiln::log {

struct SinkSpec {
  std::string scheme;  // "" for a plain path
  std::string arg;     // the path, or the text after "scheme:"
};

// Pure. "file:/x" -> {"file", "/x"}; "/x", "./x", "x.log" -> {"", ...}. A scheme is
// [a-z0-9_-]+ before the first ':' with no '/' in it. A bare [a-z0-9_-]+ is a scheme with no
// argument, as uWSGI reads `logger = syslog`: "syslog" -> {"syslog", ""}, "stderr" ->
// {"stderr", ""}.
SinkSpec ParseSinkSpec(std::string_view spec);

// Pure. The file that fd 1 and 2 should follow so what applications print lands in the server
// log: `logto` when set, else the first `logger` that is a file (`file:/path` or a plain path),
// else "" (stdio stays where it is).
std::string StdioLogPath(std::string_view logto, const std::vector<std::string>& loggers);

// Opens one logger of a scheme: `arg` is the text after the colon.
using SchemeOpener = std::function<absl::StatusOr<std::unique_ptr<Sink>>(std::string_view arg)>;

class SchemeTable {
 public:
  // AlreadyExists naming both providers when the scheme is taken.
  absl::Status Register(std::string scheme, std::string provider, SchemeOpener opener);
  const SchemeOpener* Find(std::string_view scheme) const;
  std::string Provider(std::string_view scheme) const;
  std::vector<std::string> Schemes() const;

 private:
  struct Entry {
    std::string provider;
    SchemeOpener opener;
  };
  std::map<std::string, Entry, std::less<>> entries_;
};

// Opens `spec`. Errors name the spec: an unknown scheme is NotFound naming the plugin-less
// scheme and the known ones; a file that cannot be opened names the path and the reason.
absl::StatusOr<std::unique_ptr<Sink>> OpenSink(std::string_view spec, const SchemeTable& schemes,
                                               const FileOptions& file_options);

}  // namespace kiln::log
