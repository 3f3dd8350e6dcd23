// Finding vassal files and telling when one changed: the directories and globs of `emperor`,
// each file's state (mtime, size, a hash of its content, owner), and an inotify watch on the
// directories so a change is seen at once (the periodic scan stays as the fallback).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"

namespace kiln::emperor {

// What the emperor compares between scans. uWSGI compares mtimes in whole seconds, so a
// second edit within the same second is missed; kiln compares nanosecond mtimes, sizes and
// content.
struct FileState {
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t content_hash = 0;
  uid_t uid = 0;  // owner of the file (the link itself with tyrant-nofollow)
  gid_t gid = 0;
  bool symlink = false;
  uid_t link_uid = 0;  // owner of the symlink when `symlink`
};

// True when `a` and `b` differ in mtime, size or content.
bool Changed(const FileState& a, const FileState& b);

struct VassalFile {
  std::string path;    // absolute
  std::string source;  // the `emperor` value that found it
};

// The vassal files of every source, sorted, without duplicates: a directory's `*.ini`
// entries, or the matches of a glob. Hidden files (a leading dot: editors' temporaries) are
// skipped.
std::vector<VassalFile> ListVassalFiles(const std::vector<std::string>& sources);

// The state of `path`: `nofollow` stats a symlink itself for mtime and size,
// `owner_nofollow` takes the owner from the link. The content is read without blocking on a
// FIFO; anything but a regular file (at the end of the link) is an error.
absl::StatusOr<FileState> ReadFileState(const std::string& path, bool nofollow,
                                        bool owner_nofollow);

// True when `path` still has the mtime, size and owner of `known`, by stat alone (no read):
// the periodic scan's check while inotify, which reports every write, is on watch.
bool SameByStat(const std::string& path, const FileState& known, bool nofollow,
                bool owner_nofollow);

// inotify on the directories holding the vassal files; -1 fd when inotify is unavailable.
class DirWatch {
 public:
  // Watches each source's directory (the directory itself, or a glob's directory part when
  // it has no wildcard). Failures leave polling to do the work.
  void Open(const std::vector<std::string>& sources);
  int fd() const { return fd_.Get(); }
  // Every source's directory is watched: a change anywhere is reported.
  bool covers_all() const { return fd_ && covers_all_; }
  // Reads every pending event; true when there was one.
  bool Drain();

 private:
  base::UniqueFd fd_;
  bool covers_all_ = false;
};

}  // namespace kiln::emperor
