// A spooler process (spooler.h): waits on its directory (inotify, and every
// spooler-frequency), and runs each due task under an fcntl lock. The directory may be
// writable by the application's user: every task file is opened with O_NOFOLLOW and checked
// with fstat (a regular file of this user, with one link) before a byte of it is read.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/safe_file.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "core/log/logger.h"
#include "core/process/host_setup.h"
#include "core/process/spooler.h"

namespace kiln::process {
namespace {

constexpr std::string_view kTaskPrefix = "uwsgi_spoolfile_on_";
constexpr size_t kMaxWarned = 1024;

std::atomic<int> g_stop{0};
int g_wake_fd = -1;  // the write end of a pipe the wait polls: a stop never waits a whole scan

void OnStop(int) {
  g_stop.store(1);
  if (g_wake_fd >= 0) {
    const char c = 0;
    [[maybe_unused]] ssize_t n = write(g_wake_fd, &c, 1);
  }
}

void InstallSpoolerSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGALRM, SIG_DFL);  // spooler-harakiri: the alarm ends the process
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

bool IsPriorityDir(std::string_view name) {
  if (name.empty() || name.size() > 18) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Names refused once are not logged again at every scan (bounded: a user filling the
// directory with symlinks must not grow this process).
bool FirstRefusal(const std::string& path) {
  static std::set<std::string>* warned = new std::set<std::string>;
  if (warned->count(path) != 0) return false;
  if (warned->size() >= kMaxWarned) warned->clear();
  warned->insert(path);
  return true;
}

void Refuse(const std::string& path, std::string_view why) {
  if (FirstRefusal(path)) {
    log::Warn("[spooler] refusing spool file %s: %s; it is left alone", path, why);
  }
}

absl::StatusOr<std::string> ReadAll(int fd, size_t size) {
  std::string data(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread(fd, data.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(base::ErrnoText(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

// Runs task `name` of the directory `dirfd` (path `dir`) if it is due and no other spooler
// holds it. Returns whether `run` was called.
bool ManageTask(int dirfd, const std::string& dir, const std::string& name,
                const SpoolerOptions& o, const SpoolRunner& run) {
  const std::string path = dir + "/" + name;
  base::UniqueFd fd(openat(dirfd, name.c_str(),
                           O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP) {
      Refuse(path, "it is a symbolic link");
    } else if (errno != ENOENT) {  // ENOENT: another spooler finished it meanwhile
      Refuse(path, base::ErrnoText(errno));
    }
    return false;
  }
  struct stat st;
  if (fstat(fd.Get(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) {
    Refuse(path, absl::StrFormat("it is %s", base::FileKind(st.st_mode)));
    return false;
  }
  if (st.st_uid != geteuid()) {
    Refuse(path, absl::StrFormat("it belongs to uid %d, not to the spooler's user (uid %d)",
                                 st.st_uid, geteuid()));
    return false;
  }
  if (st.st_nlink > 1) {
    Refuse(path, "it has several hard links");
    return false;
  }
  if (st.st_mtime > time(nullptr)) return false;  // `at`: not yet
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (fcntl(fd.Get(), F_SETLK, &lk) != 0) return false;  // another spooler runs it
  // Locked: was it finished (and unlinked) between our open and our lock?
  if (fstat(fd.Get(), &st) != 0 || st.st_nlink == 0) return false;
  // Shorter than a header: another program may have created it and not yet written it (uWSGI
  // creates its tasks under their final name); a later scan sees it whole.
  if (st.st_size < 4) return false;
  absl::StatusOr<std::string> data = ReadAll(fd.Get(), static_cast<size_t>(st.st_size));
  if (!data.ok()) {
    log::Error("[spooler] cannot read %s: %s; trying again later", path,
               base::Sv(data.status().message()));
    return false;
  }
  absl::StatusOr<protocol::SpoolContent> task = protocol::DecodeSpoolFile(*data);
  if (!task.ok()) {
    log::Error("[spooler] %s is not a spool task (%s): removing it", path,
               base::Sv(task.status().message()));
    unlinkat(dirfd, name.c_str(), 0);
    return false;
  }
  if (!o.quiet) {
    log::Notice("[spooler %s pid: %d] managing request %s ...", dir, getpid(), name);
  }
  const time_t started = time(nullptr);
  if (o.harakiri > absl::ZeroDuration()) {
    alarm(static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(
                                                         o.harakiri, absl::Seconds(1))))));
  }
  int ret = run(path, task->vars, task->body);
  if (o.harakiri > absl::ZeroDuration()) alarm(0);
  if (ret == -2) {
    if (unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      log::Error("[spooler] cannot remove the finished task %s: %s", path,
                 base::ErrnoText(errno));
    }
    if (!o.quiet) {
      log::Notice("[spooler %s pid: %d] done with task %s after %d seconds", dir, getpid(), name,
                  static_cast<int64_t>(time(nullptr) - started));
    }
  } else if (ret == 0) {
    log::Warn("[spooler %s pid: %d] no spooler function took task %s (is uwsgi.spooler set in "
              "the spooler process?); it stays for the next scan",
              dir, getpid(), name);
  }
  return true;  // the lock goes with the descriptor
}

std::vector<std::string> ListNames(int dirfd, const std::string& dir, bool ordered) {
  std::vector<std::string> names;
  int copy = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return names;
  DIR* d = fdopendir(copy);
  if (d == nullptr) {
    close(copy);
    return names;
  }
  rewinddir(d);
  while (struct dirent* e = readdir(d)) {
    std::string_view n(e->d_name);
    if (n.starts_with(kTaskPrefix) || IsPriorityDir(n)) names.emplace_back(n);
  }
  closedir(d);
  if (ordered) {
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return strverscmp(a.c_str(), b.c_str()) < 0;
    });
  }
  (void)dir;
  return names;
}

}  // namespace

int ScanSpoolDirectory(int dirfd, const std::string& dir, const SpoolerOptions& options,
                       const SpoolRunner& run) {
  int ran = 0;
  for (const std::string& name : ListNames(dirfd, dir, options.ordered)) {
    if (g_stop.load() != 0) break;
    if (IsPriorityDir(name)) {
      // A priority subdirectory (spool's `priority`): never through a symlink.
      base::UniqueFd sub(openat(dirfd, name.c_str(),
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) {
        if (errno == ELOOP) Refuse(dir + "/" + name, "it is a symbolic link");
        continue;
      }
      struct stat st;
      if (fstat(sub.Get(), &st) != 0 || st.st_uid != geteuid()) continue;
      const std::string subdir = dir + "/" + name;
      for (const std::string& task : ListNames(sub.Get(), subdir, options.ordered)) {
        if (g_stop.load() != 0) break;
        if (!IsPriorityDir(task) && ManageTask(sub.Get(), subdir, task, options, run)) ++ran;
      }
      continue;
    }
    if (ManageTask(dirfd, dir, name, options, run)) ++ran;
  }
  return ran;
}

int RunSpoolerProcess(const SpoolerProcessParams& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (p.master_pid != 0 && getppid() != p.master_pid) return 1;
  int wake[2] = {-1, -1};
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) == 0) g_wake_fd = wake[1];
  base::UniqueFd wake_read(wake[0]);
  InstallSpoolerSignals();
  if (!p.title.empty()) SetProcessTitle(p.title);
  if (p.start) {
    if (absl::Status s = p.start(); !s.ok()) {
      log::Error("spooler on %s (pid: %d): %s", p.dir, getpid(), base::Sv(s.message()));
      return 22;
    }
  }
  base::UniqueFd dirfd(open(p.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) {
    log::Error("spooler on %s (pid: %d): %s", p.dir, getpid(), base::ErrnoText(errno));
    return 1;
  }
  // A task renamed into the directory (spool_enqueue.cc) wakes us before the next scan.
  base::UniqueFd inotify(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (inotify && inotify_add_watch(inotify.Get(), p.dir.c_str(), IN_MOVED_TO) < 0) {
    inotify.Reset();
  }
  const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(p.options->frequency));
  while (g_stop.load() == 0) {
    ScanSpoolDirectory(dirfd.Get(), p.dir, *p.options, p.run);
    if (g_stop.load() != 0) break;
    pollfd pfds[2] = {{inotify ? inotify.Get() : -1, POLLIN, 0},
                      {wake_read ? wake_read.Get() : -1, POLLIN, 0}};
    if (poll(pfds, 2, wait_ms) > 0 && inotify) {
      char buf[4096];
      while (read(inotify.Get(), buf, sizeof(buf)) > 0) {
      }
    }
  }
  return 0;
}

}  // namespace kiln::process
