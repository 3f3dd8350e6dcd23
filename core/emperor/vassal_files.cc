// Listing vassal files, reading their state, inotify.
#include "core/emperor/vassal_files.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"

namespace kiln::emperor {
namespace {

// Larger vassal files are compared by mtime and size alone.
constexpr int64_t kMaxHashedBytes = 4 << 20;

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Hidden(const std::string& path) {
  size_t slash = path.rfind('/');
  return path.compare(slash == std::string::npos ? 0 : slash + 1, 1, ".") == 0;
}

std::string DirectoryOf(const std::string& source) {
  if (IsDirectory(source)) {
    return source;
  }
  size_t slash = source.rfind('/');
  std::string dir = slash == std::string::npos ? "." : source.substr(0, slash);
  if (dir.find_first_of("*?[") != std::string::npos) {
    return "";  // wildcards in the directory part: the scan alone finds changes
  }
  return dir;
}

uint64_t Fnv1a(uint64_t h, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

bool Changed(const FileState& a, const FileState& b) {
  return a.mtime_ns != b.mtime_ns || a.size != b.size || a.content_hash != b.content_hash;
}

std::vector<VassalFile> ListVassalFiles(const std::vector<std::string>& sources) {
  std::vector<VassalFile> out;
  std::set<std::string> seen;
  for (const std::string& source : sources) {
    std::string pattern = IsDirectory(source) ? source + "/*.ini" : source;
    glob_t g{};
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::string path = g.gl_pathv[i];
        if (!Hidden(path) && !IsDirectory(path) && seen.insert(path).second) {
          out.push_back(VassalFile{path, source});
        }
      }
    }
    globfree(&g);
  }
  std::sort(out.begin(), out.end(),
            [](const VassalFile& a, const VassalFile& b) { return a.path < b.path; });
  return out;
}

absl::StatusOr<FileState> ReadFileState(const std::string& path, bool nofollow,
                                        bool owner_nofollow) {
  FileState fs;
  struct stat lst;
  if (lstat(path.c_str(), &lst) != 0) {
    return base::ErrnoError(errno, "lstat", path);
  }
  fs.symlink = S_ISLNK(lst.st_mode);
  fs.link_uid = lst.st_uid;
  // Opened without blocking (a FIFO planted as *.ini) and checked before any read; the
  // content is only hashed, never shown.
  base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    return base::ErrnoError(errno, "open", path);
  }
  struct stat st;
  if (fstat(fd.Get(), &st) != 0) {
    return base::ErrnoError(errno, "fstat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not a regular file", path));
  }
  const struct stat& changes = nofollow && fs.symlink ? lst : st;
  fs.mtime_ns = static_cast<int64_t>(changes.st_mtim.tv_sec) * 1000000000 +
                changes.st_mtim.tv_nsec;
  fs.size = changes.st_size;
  const struct stat& owner = owner_nofollow && fs.symlink ? lst : st;
  fs.uid = owner.st_uid;
  fs.gid = owner.st_gid;
  uint64_t h = 14695981039346656037ULL;
  if (st.st_size <= kMaxHashedBytes) {
    char buf[16384];
    for (;;) {
      ssize_t n = read(fd.Get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      h = Fnv1a(h, buf, static_cast<size_t>(n));
    }
  }
  fs.content_hash = h;
  return fs;
}

bool SameByStat(const std::string& path, const FileState& known, bool nofollow,
                bool owner_nofollow) {
  struct stat lst;
  struct stat st;
  if (lstat(path.c_str(), &lst) != 0 || stat(path.c_str(), &st) != 0) {
    return false;
  }
  bool link = S_ISLNK(lst.st_mode);
  const struct stat& changes = nofollow && link ? lst : st;
  const struct stat& owner = owner_nofollow && link ? lst : st;
  int64_t mtime = static_cast<int64_t>(changes.st_mtim.tv_sec) * 1000000000 +
                  changes.st_mtim.tv_nsec;
  return link == known.symlink && mtime == known.mtime_ns && changes.st_size == known.size &&
         owner.st_uid == known.uid && owner.st_gid == known.gid && lst.st_uid == known.link_uid;
}

void DirWatch::Open(const std::vector<std::string>& sources) {
  fd_ = base::UniqueFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd_) {
    return;
  }
  // Not IN_MODIFY: a file being written would be seen half-written. A write ends with
  // IN_CLOSE_WRITE, `touch` gives IN_ATTRIB, an editor's rename IN_MOVED_TO.
  constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE |
                               IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;
  covers_all_ = true;
  for (const std::string& source : sources) {
    std::string dir = DirectoryOf(source);
    if (dir.empty() || inotify_add_watch(fd_.Get(), dir.c_str(), kEvents) < 0) {
      covers_all_ = false;
    }
  }
}

bool DirWatch::Drain() {
  if (!fd_) {
    return false;
  }
  bool any = false;
  alignas(inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = read(fd_.Get(), buf, sizeof(buf));
    if (n <= 0) {
      return any;
    }
    any = true;
  }
}

}  // namespace kiln::emperor
