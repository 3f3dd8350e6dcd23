// SystemHost: the configuration reader's window on the real system.
#include "core/config/host.h"

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "core/base/errno_status.h"
#include "core/base/unique_fd.h"

namespace kiln::config {

absl::StatusOr<std::string> SystemHost::ReadFile(const std::string& path) const {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.Valid()) return base::ErrnoError(errno, "open", path);
  struct stat st;
  if (::fstat(fd.Get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return base::ErrnoError(EISDIR, "read", path);
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(errno, "read", path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    // Configuration files are small; refuse to slurp a device or a runaway file.
    if (out.size() > (size_t{64} << 20)) {
      return absl::ResourceExhaustedError(absl::StrCat(path, " is larger than 64 MiB"));
    }
  }
  return out;
}

bool SystemHost::Exists(const std::string& path) const {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool SystemHost::IsFile(const std::string& path) const {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool SystemHost::IsDir(const std::string& path) const {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string SystemHost::RealPath(const std::string& path) const {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

std::vector<std::string> SystemHost::Glob(const std::string& pattern) const {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  return out;
}

std::optional<std::string> SystemHost::GetEnv(const std::string& name) const {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string SystemHost::Cwd() const {
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

std::string SystemHost::Hostname() const {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

int64_t SystemHost::NowMicros() const {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

int SystemHost::Cpus() const {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

uint32_t SystemHost::Uid() const { return ::getuid(); }
uint32_t SystemHost::Gid() const { return ::getgid(); }

std::string SystemHost::UserName() const {
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (::getpwuid_r(::getuid(), &pw, buf, sizeof(buf), &res) != 0 || res == nullptr) {
    return absl::StrCat(::getuid());
  }
  return res->pw_name;
}

std::string SystemHost::GroupName() const {
  struct group gr, *res = nullptr;
  char buf[4096];
  if (::getgrgid_r(::getgid(), &gr, buf, sizeof(buf), &res) != 0 || res == nullptr) {
    return absl::StrCat(::getgid());
  }
  return res->gr_name;
}

}  // namespace kiln::config
