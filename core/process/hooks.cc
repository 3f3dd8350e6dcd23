// Phase hooks: parsing (pure), the built-in actions, and the runner.
#include "core/process/hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/errno_status.h"
#include "core/base/safe_file.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "core/log/logger.h"
#include "core/process/signals.h"

namespace kiln::process {
namespace {

struct PhaseInfo {
  HookPhase phase;
  const char* name;
  bool has_exec;
};

constexpr PhaseInfo kPhases[] = {
    {HookPhase::kAsap, "asap", true},
    {HookPhase::kPreJail, "pre-jail", true},
    {HookPhase::kInJail, "in-jail", true},
    {HookPhase::kPostJail, "post-jail", true},
    {HookPhase::kAsRoot, "as-root", true},
    {HookPhase::kAsUser, "as-user", true},
    {HookPhase::kPreApp, "pre-app", true},
    {HookPhase::kPostApp, "post-app", true},
    {HookPhase::kPostFork, "post-fork", false},
    {HookPhase::kAccepting, "accepting", false},
    {HookPhase::kAccepting1, "accepting1", false},
    {HookPhase::kAcceptingOnce, "accepting-once", false},
    {HookPhase::kAccepting1Once, "accepting1-once", false},
    {HookPhase::kMasterStart, "master-start", false},
    {HookPhase::kAsUserAtexit, "as-user-atexit", true},
    {HookPhase::kAsVassal, "as-vassal", true},
};

// The actions kiln runs, and uWSGI's others, which it names as unsupported.
constexpr const char* kActions[] = {"exec",  "safeexec", "print", "log",    "mkdir",
                                    "unlink", "write",    "writen", "append", "appendn",
                                    "create", "creat",    "chdir",  "cd",     "putenv",
                                    "exit",   "unix_signal"};
constexpr const char* kUnsupported[] = {
    "alarm",       "chmod",        "chown",        "chown2",        "sticky",
    "writefifo",   "mount",        "umount",       "call",          "callret",
    "callint",     "callintret",   "hostname",     "rpc",           "retryrpc",
    "wait_for_fs", "wait_for_file", "wait_for_dir", "wait_for_socket", "spinningfifo"};

// `unix_signal:N function`: uWSGI rebinds a master signal to one of its functions. kiln's
// master has fixed signal handling; the bindings that ask for what it already does are
// accepted (the usual one makes SIGTERM a graceful stop, kiln's default, see
// ServerOptions::FromConfig), any other is refused.
struct SignalBinding {
  int sig;
  const char* function;
};
constexpr SignalBinding kSignalBindings[] = {
    {SIGTERM, "gracefully_kill_them_all"}, {SIGINT, "kill_them_all"},
    {SIGQUIT, "kill_them_all"},            {SIGHUP, "grace_them_all"},
};

bool Known(std::string_view action, const auto& list) {
  for (const char* a : list) {
    if (action == a) return true;
  }
  return false;
}

bool ParseInt(std::string_view text, int* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && !text.empty();
}

absl::Status CheckSignalBinding(std::string_view arg) {
  size_t space = arg.find(' ');
  int sig = 0;
  if (space != std::string_view::npos && ParseInt(arg.substr(0, space), &sig)) {
    std::string_view fn = arg.substr(arg.find_first_not_of(' ', space));
    for (const SignalBinding& b : kSignalBindings) {
      if (b.sig == sig && fn == b.function) return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "`unix_signal:%s`: kiln's master handles signals itself; it accepts only the bindings "
      "it already follows (15 gracefully_kill_them_all, 2 or 3 kill_them_all, 1 "
      "grace_them_all)",
      arg));
}

// Splits `file text` (write, append...).
absl::Status FileAndText(const HookAction& a, std::string* file, std::string* text) {
  size_t space = a.arg.find(' ');
  if (space == std::string::npos || space == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("`%s`: expected `%s:<file> <text>`", a.text, a.action));
  }
  *file = a.arg.substr(0, space);
  *text = a.arg.substr(space + 1);
  return absl::OkStatus();
}

// Opens `path` for writing without following a final symlink or blocking on a FIFO, and only
// a regular file that passes the rules for a file kiln may write as root. `truncate`
// empties an existing one; a missing one is created 0644 (less the umask).
absl::StatusOr<base::UniqueFd> OpenForHook(const std::string& path, bool append, bool truncate) {
  int flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (append ? O_APPEND : 0);
  base::UniqueFd fd(open(path.c_str(), flags | O_CREAT | O_EXCL, 0644));
  if (!fd) {
    if (errno != EEXIST) return base::ErrnoError(errno, "open", path);
    fd.Reset(open(path.c_str(), flags));
    if (!fd) return base::ErrnoError(errno, "open", path);
    struct stat st;
    if (fstat(fd.Get(), &st) != 0) return base::ErrnoError(errno, "fstat", path);
    if (absl::Status s = base::CheckExistingFile(path, st, std::nullopt, geteuid()); !s.ok()) {
      return s;
    }
    if (truncate && ftruncate(fd.Get(), 0) != 0) return base::ErrnoError(errno, "ftruncate", path);
  }
  return fd;
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(errno, "write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAction(const HookAction& a, bool append, bool newline) {
  std::string file, text;
  if (absl::Status s = FileAndText(a, &file, &text); !s.ok()) return s;
  if (newline) text.push_back('\n');
  auto fd = OpenForHook(file, append, !append);
  if (!fd.ok()) return fd.status();
  return WriteAll(fd->Get(), text, file);
}

// /bin/sh -c `command`, waited for: its exit code (128+N when killed by signal N), or an
// error when it could not be started.
absl::StatusOr<int> RunAndWait(const std::string& command) {
  pid_t pid = SpawnShellCommand(command);
  if (pid < 0) return base::ErrnoError(errno, "fork", command);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return base::ErrnoError(errno, "waitpid", command);
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

std::atomic<uint8_t>* g_accepted = nullptr;  // shared mapping, one byte per worker id
int g_accepted_size = 0;

}  // namespace

pid_t SpawnShellCommand(const std::string& command) {
  pid_t pid = fork();
  if (pid == 0) {
    ResetSignalsForChild();
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

std::string_view HookPhaseName(HookPhase phase) { return kPhases[static_cast<size_t>(phase)].name; }

bool HookPhaseHasExec(HookPhase phase) { return kPhases[static_cast<size_t>(phase)].has_exec; }

absl::StatusOr<HookAction> ParseHookAction(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("`%s`: expected `action:argument`, such as `exec:/path/to/script`", text));
  }
  HookAction a;
  a.text = std::string(text);
  std::string_view action = text.substr(0, colon);
  if (action.starts_with('!')) {
    a.quiet = true;
    action.remove_prefix(1);
  }
  a.action = std::string(action);
  a.arg = std::string(text.substr(colon + 1));
  if (Known(action, kUnsupported)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "`%s`: the hook action `%s` is not supported by kiln (it runs %s; `exec:` runs any "
        "command)",
        text, action, absl::StrJoin(kActions, ", ")));
  }
  if (!Known(action, kActions)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "`%s`: unknown hook action `%s` (kiln runs %s)", text, action,
        absl::StrJoin(kActions, ", ")));
  }
  if (a.action == "unix_signal") {
    if (absl::Status s = CheckSignalBinding(a.arg); !s.ok()) return s;
  }
  return a;
}

HookAction ExecHookAction(std::string_view command) {
  return HookAction{"exec:" + std::string(command), "exec", std::string(command), false};
}

absl::Status RunHookAction(const HookAction& a) {
  const std::string& arg = a.arg;
  if (a.action == "exec" || a.action == "safeexec") {
    auto code = RunAndWait(arg);
    if (!code.ok()) return code.status();
    if (*code != 0) {
      log::Error("command \"%s\" exited with non-zero code: %d", arg, *code);
      if (a.action == "exec") {
        return absl::FailedPreconditionError(
            absl::StrFormat("the command exited with code %d", *code));
      }
    }
    return absl::OkStatus();
  }
  if (a.action == "print" || a.action == "log") {
    log::Notice("%s", arg);
    return absl::OkStatus();
  }
  if (a.action == "mkdir") {
    if (mkdir(arg.c_str(), 0777) != 0) return base::ErrnoError(errno, "mkdir", arg);
    return absl::OkStatus();
  }
  if (a.action == "unlink") {
    if (unlink(arg.c_str()) != 0) return base::ErrnoError(errno, "unlink", arg);
    return absl::OkStatus();
  }
  if (a.action == "chdir" || a.action == "cd") {
    if (chdir(arg.c_str()) != 0) return base::ErrnoError(errno, "chdir", arg);
    return absl::OkStatus();
  }
  if (a.action == "putenv") {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError("expected `putenv:NAME=value`");
    }
    if (setenv(arg.substr(0, eq).c_str(), arg.c_str() + eq + 1, 1) != 0) {
      return base::ErrnoError(errno, "setenv", arg);
    }
    return absl::OkStatus();
  }
  if (a.action == "write" || a.action == "writen") {
    return WriteFileAction(a, /*append=*/false, a.action == "writen");
  }
  if (a.action == "append" || a.action == "appendn") {
    return WriteFileAction(a, /*append=*/true, a.action == "appendn");
  }
  if (a.action == "create" || a.action == "creat") {
    auto fd = OpenForHook(arg, /*append=*/false, /*truncate=*/true);
    return fd.ok() ? absl::OkStatus() : fd.status();
  }
  if (a.action == "exit") {
    int code = 0;
    (void)ParseInt(arg, &code);
    log::Notice("hook `%s`: exiting with code %d", a.quiet ? "(private)" : a.text, code);
    _exit(code);
  }
  if (a.action == "unix_signal") {
    return absl::OkStatus();  // the binding is kiln's own behaviour (CheckSignalBinding)
  }
  return absl::InvalidArgumentError(absl::StrFormat("unknown hook action `%s`", a.action));
}

absl::Status RunHooks(const Hooks& hooks, HookPhase phase) {
  for (const HookAction& a : hooks.at(phase)) {
    if (a.quiet) {
      log::Notice("running --- PRIVATE HOOK --- (%s)...", HookPhaseName(phase));
    } else {
      log::Notice("running \"%s\" (%s)...", a.text, HookPhaseName(phase));
    }
    if (absl::Status s = RunHookAction(a); !s.ok()) {
      return absl::Status(s.code(), absl::StrFormat("hook-%s `%s`: %s", HookPhaseName(phase),
                                                    a.quiet ? "(private)" : a.text,
                                                    base::Sv(s.message())));
    }
  }
  return absl::OkStatus();
}

void PrepareFirstAccepting(int workers) {
  size_t size = static_cast<size_t>(workers) + 1;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return;  // FirstAccepting then says true for every spawn: the hooks run more than once
  }
  g_accepted = static_cast<std::atomic<uint8_t>*>(p);
  g_accepted_size = workers + 1;
}

bool FirstAccepting(int worker_id) {
  if (g_accepted == nullptr || worker_id < 0 || worker_id >= g_accepted_size) {
    return true;
  }
  return g_accepted[worker_id].exchange(1) == 0;
}

}  // namespace kiln::process
