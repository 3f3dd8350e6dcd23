// static-map: serves files under a mount point from a directory with sendfile, before the
// handler runs. No path leaves the directory ("..", symlinks pointing outside); a missing
// file falls through to the handler, as in uWSGI. Knows only RequestContext and the disk.
#pragma once

#include <ctime>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/protocol/request_context.h"

namespace kiln::net {

// What uWSGI's static options add to a served file.
struct StaticExtras {
  // static-gzip-all: a client whose Accept-Encoding names gzip gets FILE.gz, when that is a
  // regular file, with Content-Encoding: gzip (and Vary: Accept-Encoding).
  bool gzip_all = false;
  // static-expires: (regex, seconds); the first regex found in the file's real path sets
  // Expires to the request time plus the seconds.
  std::vector<std::pair<std::string, int64_t>> expires;
};

class StaticFiles {
 public:
  // maps: (mount, dir) pairs as configured. Each dir must exist: an error names it.
  // safe_dirs (static-safe): directories a mount's symlinks may lead into; a file whose real
  // path is under one is served as if it were under the mount (missing ones are skipped).
  // A static-expires regex that does not compile is an error naming it.
  static absl::StatusOr<StaticFiles> Create(
      const std::vector<std::pair<std::string, std::string>>& maps,
      const std::vector<std::string>& safe_dirs = {}, const StaticExtras& extras = {});

  // Answers a GET/HEAD under a mount when the file exists (200, 304, or 403 for a directory
  // or a path that leaves the mount). Returns false when the request is not ours.
  bool Serve(protocol::RequestContext& request) const;
  bool empty() const { return mounts_.empty(); }

 private:
  struct Mount {
    std::string prefix;    // "/static", without a trailing slash ("" for "/")
    std::string real_dir;  // realpath of the directory
  };
  bool Contained(const std::string& real, const std::string& dir) const;
  std::vector<Mount> mounts_;
  std::vector<std::string> safe_dirs_;  // realpaths
  bool gzip_all_ = false;
  std::vector<std::pair<std::regex, int64_t>> expires_;
};

// Content-Type for a file name by its extension (a built-in table of common types);
// "application/octet-stream" when unknown.
std::string_view ContentTypeFor(std::string_view path);
// RFC 9110 5.6.7 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(time_t t);
std::optional<time_t> ParseHttpDate(std::string_view text);

}  // namespace kiln::net
