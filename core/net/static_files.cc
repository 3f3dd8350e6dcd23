// Static files: path checks, realpath containment, regular files only (opened without
// blocking, so a FIFO cannot hold a thread), conditional GET, sendfile.
#include "core/net/static_files.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"

namespace kiln::net {
namespace {

std::optional<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

// True when a '/'-separated component of `path` is "..".
bool HasDotDot(std::string_view path) {
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(pos, slash - pos) == "..") return true;
    pos = slash + 1;
  }
  return false;
}

void Answer(protocol::RequestContext& r, int status, std::string_view text) {
  if (r.StartResponse(status, "", {{"Content-Type", "text/plain"}}).ok()) {
    (void)r.WriteBody(text);
  }
}

// O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer and hold this thread;
// O_NOFOLLOW: a symlink swapped in after realpath() is refused. Only a regular file is
// served, as checked on what was opened; invalid otherwise.
base::UniqueFd OpenRegular(const std::string& path, struct stat* st) {
  base::UniqueFd fd(
      open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW));
  if (!fd.Valid() || fstat(fd.Get(), st) != 0 || !S_ISREG(st->st_mode)) return {};
  // sendfile(2) reads a regular file the same either way; cleared so nothing downstream ever
  // sees EAGAIN from it.
  (void)fcntl(fd.Get(), F_SETFL, fcntl(fd.Get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html"}, {"htm", "text/html"}, {"css", "text/css"},
      {"js", "text/javascript"}, {"mjs", "text/javascript"}, {"json", "application/json"},
      {"txt", "text/plain"}, {"csv", "text/csv"}, {"xml", "application/xml"},
      {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"webp", "image/webp"},
      {"avif", "image/avif"}, {"ico", "image/vnd.microsoft.icon"}, {"woff", "font/woff"},
      {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
      {"pdf", "application/pdf"}, {"zip", "application/zip"}, {"gz", "application/gzip"},
      {"tar", "application/x-tar"}, {"wasm", "application/wasm"}, {"map", "application/json"},
      {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"mp3", "audio/mpeg"},
      {"ogg", "audio/ogg"}, {"wav", "audio/wav"}, {"md", "text/markdown"},
  };
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext = absl::AsciiStrToLower(base::Av(path.substr(dot + 1)));
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return type;
  }
  return "application/octet-stream";
}

std::string HttpDate(time_t t) {
  struct tm tm_buf;
  gmtime_r(&t, &tm_buf);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm_buf);
  return std::string(buf, n);
}

std::optional<time_t> ParseHttpDate(std::string_view text) {
  std::string s(text);
  struct tm tm_buf;
  std::memset(&tm_buf, 0, sizeof(tm_buf));
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm_buf);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return timegm(&tm_buf);
}

absl::StatusOr<StaticFiles> StaticFiles::Create(
    const std::vector<std::pair<std::string, std::string>>& maps,
    const std::vector<std::string>& safe_dirs, const StaticExtras& extras) {
  StaticFiles files;
  files.gzip_all_ = extras.gzip_all;
  for (const auto& [pattern, seconds] : extras.expires) {
    try {
      files.expires_.emplace_back(std::regex(pattern, std::regex::optimize), seconds);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "static-expires regex \"%s\" does not compile: %s", pattern, e.what()));
    }
  }
  for (const std::string& dir : safe_dirs) {
    if (std::optional<std::string> real = RealPath(dir)) {
      files.safe_dirs_.push_back(std::move(*real));
    }
  }
  for (const auto& [mount, dir] : maps) {
    if (mount.empty() || mount[0] != '/') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "static-map mount \"%s\" must start with '/' (static-map = /mount=dir)", mount));
    }
    std::optional<std::string> real = RealPath(dir);
    struct stat st;
    if (!real.has_value() || stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(absl::StrFormat(
          "static-map %s=%s: the directory does not exist or is not a directory", mount, dir));
    }
    std::string prefix = mount;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    files.mounts_.push_back({prefix, *real});
  }
  // Longest mount first, so /static/img wins over /static.
  std::stable_sort(files.mounts_.begin(), files.mounts_.end(),
                   [](const Mount& a, const Mount& b) { return a.prefix.size() > b.prefix.size(); });
  return files;
}

bool StaticFiles::Contained(const std::string& real, const std::string& dir) const {
  return real == dir || (real.size() > dir.size() && real.compare(0, dir.size(), dir) == 0 &&
                         (dir.ends_with('/') || real[dir.size()] == '/'));
}

bool StaticFiles::Serve(protocol::RequestContext& r) const {
  const std::string_view method = r.Var("REQUEST_METHOD").value_or("");
  if (method != "GET" && method != "HEAD") return false;
  const std::string_view path = r.PathVars().path_info;
  for (const Mount& m : mounts_) {
    if (path.substr(0, m.prefix.size()) != m.prefix) continue;
    std::string_view rest = path.substr(m.prefix.size());
    if (!rest.empty() && rest[0] != '/') continue;
    if (HasDotDot(rest) || rest.find('\0') != std::string_view::npos) {
      Answer(r, 403, "403 Forbidden\n");
      return true;
    }
    std::optional<std::string> real = RealPath(m.real_dir + std::string(rest));
    if (!real.has_value()) {
      if (errno == ENOENT || errno == ENOTDIR) return false;  // the app may know it
      Answer(r, 403, "403 Forbidden\n");
      return true;
    }
    bool inside = Contained(*real, m.real_dir);
    for (size_t i = 0; !inside && i < safe_dirs_.size(); ++i) {
      inside = Contained(*real, safe_dirs_[i]);  // static-safe: a symlink may lead there
    }
    if (!inside) {
      Answer(r, 403, "403 Forbidden\n");  // a symlink leading out of the directory
      return true;
    }
    struct stat st;
    base::UniqueFd fd = OpenRegular(*real, &st);
    if (!fd.Valid()) {
      Answer(r, 403, "403 Forbidden\n");
      return true;
    }
    // static-gzip-all: FILE.gz beside FILE (the same directory, so under the mount; a symlink
    // there is refused by O_NOFOLLOW and FILE itself is served).
    bool gzip = false;
    if (gzip_all_ && absl::StrContains(base::Av(r.Var("HTTP_ACCEPT_ENCODING").value_or("")),
                                       "gzip")) {
      struct stat gz_st;
      if (base::UniqueFd gz = OpenRegular(*real + ".gz", &gz_st); gz.Valid()) {
        fd = std::move(gz);
        st = gz_st;
        gzip = true;
      }
    }
    const std::string last_modified = HttpDate(st.st_mtime);
    if (std::optional<std::string_view> ims = r.Var("HTTP_IF_MODIFIED_SINCE")) {
      std::optional<time_t> since = ParseHttpDate(*ims);
      if (since.has_value() && st.st_mtime <= *since) {
        (void)r.StartResponse(304, "", {{"Last-Modified", last_modified}});
        return true;
      }
    }
    const std::string length = absl::StrCat(st.st_size);
    std::vector<protocol::Header> headers = {{"Content-Type", ContentTypeFor(*real)},
                                             {"Content-Length", length},
                                             {"Last-Modified", last_modified}};
    if (gzip) {
      headers.push_back({"Content-Encoding", "gzip"});
      headers.push_back({"Vary", "Accept-Encoding"});
    }
    std::string expires;
    for (const auto& [pattern, seconds] : expires_) {
      if (std::regex_search(*real, pattern)) {
        expires = HttpDate(time(nullptr) + seconds);
        headers.push_back({"Expires", expires});
        break;
      }
    }
    if (!r.StartResponse(200, "", headers).ok()) {
      return true;
    }
    (void)r.SendFile(fd.Get(), 0, st.st_size);
    return true;
  }
  return false;
}

}  // namespace kiln::net
