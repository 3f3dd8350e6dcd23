// The vassal command line, tyrant identities, fork and exec.
#include "core/emperor/vassal_spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/process/signals.h"
#include "core/process/systemd.h"

namespace kiln::emperor {
namespace {

// In the forked child: reports a failed step on stderr (the emperor's log) and exits 127.
[[noreturn]] void ChildFail(const char* step, const std::string& what) {
  int err = errno;
  std::string line = absl::StrFormat("kiln emperor: vassal %s: %s failed: %s\n", what, step,
                                     std::strerror(err));
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(127);
}

// Becomes `id` for good: groups, then gids, then uids (all of real, effective, saved and fs),
// then checks that no step left a root id behind.
void BecomeIdentity(const Identity& id, const std::string& what) {
  if (setgroups(id.groups.size(), id.groups.data()) != 0) ChildFail("setgroups", what);
  if (setresgid(id.gid, id.gid, id.gid) != 0) ChildFail("setresgid", what);
  if (setresuid(id.uid, id.uid, id.uid) != 0) ChildFail("setresuid", what);
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != id.uid ||
      eu != id.uid || su != id.uid || rg != id.gid || eg != id.gid || sg != id.gid ||
      static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) != id.uid ||
      static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) != id.gid) {
    errno = EPERM;
    ChildFail("the identity check", what);
  }
  if (setuid(0) == 0) {  // must fail now
    errno = EPERM;
    ChildFail("dropping root", what);
  }
}

}  // namespace

VassalCommand BuildVassalCommand(const std::string& exe, const std::string& file,
                                 const EmperorOptions& o) {
  VassalCommand cmd;
  cmd.argv.push_back(exe);
  auto ini = [&](const std::string& path) {
    cmd.argv.push_back("--ini");
    cmd.argv.push_back(path);
  };
  for (const std::string& f : o.inherit) ini(f);
  for (const std::string& f : o.include_before) ini(f);
  ini(file);
  for (const std::string& f : o.include) ini(f);
  for (const std::string& kv : o.set) {
    size_t eq = kv.find('=');
    cmd.argv.push_back("--" + kv.substr(0, eq));
    cmd.argv.push_back(kv.substr(eq + 1));
  }
  cmd.file = file;
  size_t slash = file.rfind('/');
  cmd.cwd = slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  return cmd;
}

absl::StatusOr<Identity> TyrantIdentity(const std::string& path, const FileState& fs,
                                        bool tyrant_nofollow) {
  if (fs.symlink && !tyrant_nofollow && fs.link_uid != fs.uid) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s is a symlink owned by uid %d to a file of uid %d: refused in tyrant mode (set "
        "emperor-tyrant-nofollow to run it as the link's owner)",
        path, fs.link_uid, fs.uid));
  }
  if (fs.uid == 0 || fs.gid == 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s is owned by root (uid %d, gid %d): a tyrant runs no vassal as root; give the file "
        "to the user (and group) the vassal should run as",
        path, fs.uid, fs.gid));
  }
  Identity id;
  id.uid = fs.uid;
  id.gid = fs.gid;
  id.user = absl::StrFormat("%d", fs.uid);
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(fs.uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    id.user = pw.pw_name;
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    if (getgrouplist(pw.pw_name, fs.gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<size_t>(n));
      for (gid_t g : groups) {
        if (g != 0) id.groups.push_back(g);  // never the root group
      }
    }
  }
  if (id.groups.empty()) {
    id.groups.push_back(fs.gid);
  }
  return id;
}

absl::StatusOr<pid_t> SpawnVassal(const VassalCommand& cmd, const std::optional<Identity>& id,
                                  int link_fd) {
  std::vector<char*> argv;
  for (const std::string& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string fd_text = absl::StrFormat("%d", link_fd);
  const std::string& what = cmd.file;
  pid_t emperor = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    return base::ErrnoError(errno, "fork", "vassal");
  }
  if (pid != 0) {
    setpgid(pid, pid);
    return pid;
  }
  // The child: one thread, so the emperor's state is consistent here.
  process::ResetSignalsForChild();
  setpgid(0, 0);  // a terminal's ^C reaches the emperor, which stops its vassals gracefully
  if (id.has_value()) {
    BecomeIdentity(*id, what);
  }
  // After the identity change, which clears a parent-death signal set before it.
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  if (getppid() != emperor) {
    _exit(1);  // the emperor died before the line above
  }
  if (fcntl(link_fd, F_SETFD, 0) != 0) ChildFail("keeping the emperor link", what);
  setenv(process::kEmperorFdEnv, fd_text.c_str(), 1);
  unsetenv("NOTIFY_SOCKET");  // systemd hears from the emperor; vassals tell the emperor
  if (chdir(cmd.cwd.c_str()) != 0) ChildFail("chdir", cmd.cwd);
  execv(argv[0], argv.data());
  ChildFail("execv", argv[0]);
}

}  // namespace kiln::emperor
