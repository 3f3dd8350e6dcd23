// The smaller process options at their points of start-up (operations.h).
#include "core/process/operations.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/log/logger.h"
#include "core/process/hooks.h"
#include "core/process/systemd.h"

namespace kiln::process {
namespace {

// uWSGI's capability names (core/utils.c uwsgi_cap_list), with the kernel's numbers.
struct CapName {
  const char* name;
  int value;
};
constexpr CapName kCaps[] = {
    {"chown", CAP_CHOWN},
    {"dac_override", CAP_DAC_OVERRIDE},
    {"dac_read_search", CAP_DAC_READ_SEARCH},
    {"fowner", CAP_FOWNER},
    {"fsetid", CAP_FSETID},
    {"kill", CAP_KILL},
    {"setgid", CAP_SETGID},
    {"setuid", CAP_SETUID},
    {"setpcap", CAP_SETPCAP},
    {"linux_immutable", CAP_LINUX_IMMUTABLE},
    {"net_bind_service", CAP_NET_BIND_SERVICE},
    {"net_broadcast", CAP_NET_BROADCAST},
    {"net_admin", CAP_NET_ADMIN},
    {"net_raw", CAP_NET_RAW},
    {"ipc_lock", CAP_IPC_LOCK},
    {"ipc_owner", CAP_IPC_OWNER},
    {"sys_module", CAP_SYS_MODULE},
    {"sys_rawio", CAP_SYS_RAWIO},
    {"sys_chroot", CAP_SYS_CHROOT},
    {"sys_ptrace", CAP_SYS_PTRACE},
    {"sys_pacct", CAP_SYS_PACCT},
    {"sys_admin", CAP_SYS_ADMIN},
    {"sys_boot", CAP_SYS_BOOT},
    {"sys_nice", CAP_SYS_NICE},
    {"sys_resource", CAP_SYS_RESOURCE},
    {"sys_time", CAP_SYS_TIME},
    {"sys_tty_config", CAP_SYS_TTY_CONFIG},
    {"mknod", CAP_MKNOD},
    {"lease", CAP_LEASE},
    {"audit_write", CAP_AUDIT_WRITE},
    {"audit_control", CAP_AUDIT_CONTROL},
    {"setfcap", CAP_SETFCAP},
    {"mac_override", CAP_MAC_OVERRIDE},
    {"mac_admin", CAP_MAC_ADMIN},
    {"syslog", CAP_SYSLOG},
    {"wake_alarm", CAP_WAKE_ALARM},
    {"block_suspend", CAP_BLOCK_SUSPEND},
};

// capset(2) directly: the three sets of this thread become `mask` (no libcap needed for
// one system call).
absl::Status SetCapabilities(uint64_t mask) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    auto bits = static_cast<uint32_t>(mask >> (32 * i));
    data[i].effective = bits;
    data[i].permitted = bits;
    data[i].inheritable = bits;
  }
  if (syscall(SYS_capset, &header, data) != 0) {
    return base::ErrnoError(errno, "capset");
  }
  return absl::OkStatus();
}

bool WillDrop(const DropPlan& plan) { return plan.user && plan.user->uid != 0 && geteuid() == 0; }

}  // namespace

absl::Status RunJailHooks(const ServerOptions& o, const ReloadContext& rc) {
  if (rc.generation == 0) {
    if (absl::Status s = RunHooks(o.hooks, HookPhase::kPreJail); !s.ok()) return s;
  }
  if (!o.hooks.at(HookPhase::kPostJail).empty()) {
    log::Notice("hook-post-jail: not run (kiln runs in no jail; uWSGI runs it only in one)");
  }
  return RunHooks(o.hooks, HookPhase::kInJail);
}

absl::Status WriteExtraPidfiles(const std::string& a, const std::string& b,
                                const ReloadContext& rc) {
  for (const std::string* path : {&a, &b}) {
    if (path->empty()) continue;
    absl::Status s = WritePidfile(*path, getpid());
    if (!s.ok() && rc.generation == 0) return s;
    if (!s.ok()) {
      log::Warn("cannot rewrite the pidfile %s after the reload: %s", *path, base::Sv(s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyLimitAs(uint64_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(bytes);
  rl.rlim_max = static_cast<rlim_t>(bytes);
  if (setrlimit(RLIMIT_AS, &rl) != 0) {
    return base::ErrnoError(errno, "setrlimit(RLIMIT_AS)");
  }
  log::Notice("your process address space limit is %d bytes (%d MB)", bytes, bytes >> 20);
  return absl::OkStatus();
}

void ApplyMaxFd(int64_t max_fd) {
  if (max_fd <= 0) return;
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(max_fd);
  rl.rlim_max = static_cast<rlim_t>(max_fd);
  // As uWSGI, a limit that cannot be set is reported and the start goes on with the old one
  // (raising the hard limit needs root or CAP_SYS_RESOURCE).
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    const int err = errno;
    struct rlimit now {};
    getrlimit(RLIMIT_NOFILE, &now);
    log::Warn("option `max-fd = %d`: setrlimit(RLIMIT_NOFILE): %s; the limit stays %d (hard "
              "%d): raise the hard limit (systemd: LimitNOFILE=) or start as root",
              max_fd, base::Sv(strerror(err)), static_cast<int64_t>(now.rlim_cur),
              static_cast<int64_t>(now.rlim_max));
    return;
  }
  log::Notice("detected max file descriptor number: %d", max_fd);
}

absl::StatusOr<uint64_t> ParseCapabilities(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (const std::string& n : names) {
    int value = -1;
    for (const CapName& c : kCaps) {
      if (n == c.name) value = c.value;
    }
    if (value < 0 && (!absl::SimpleAtoi(n, &value) || value < 0 || value > CAP_LAST_CAP)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown capability `%s` (names as in capabilities(7) without CAP_, lower case: "
          "net_bind_service, sys_nice, ...)",
          n));
    }
    mask |= uint64_t{1} << value;
  }
  return mask;
}

absl::Status KeepCapabilitiesAcrossDrop(const std::vector<std::string>& caps,
                                        const DropPlan& plan) {
  if (caps.empty()) return absl::OkStatus();
  auto mask = ParseCapabilities(caps);
  if (!mask.ok()) return mask.status();
  if (!plan.user || plan.user->uid == 0) {
    log::Warn("cap: there is no `uid` to drop to, so no capability to keep");
    return absl::OkStatus();
  }
  if (!WillDrop(plan)) {
    return absl::OkStatus();  // a reload's master already runs as `uid`: nothing was kept
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    return base::ErrnoError(errno, "prctl(PR_SET_KEEPCAPS)");
  }
  return absl::OkStatus();
}

absl::Status RestoreCapabilities(const std::vector<std::string>& caps, const DropPlan& plan) {
  if (caps.empty() || !plan.user || getuid() != plan.user->uid || plan.user->uid == 0) {
    return absl::OkStatus();
  }
  auto mask = ParseCapabilities(caps);
  if (!mask.ok()) return mask.status();
  if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 1) {
    return absl::OkStatus();  // a reload's master: the capabilities were not kept over exec
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (absl::Status s = SetCapabilities(*mask); !s.ok()) return s;
  log::Notice("capabilities kept after the privilege drop: %s", absl::StrJoin(caps, ","));
  return absl::OkStatus();
}

absl::Status WorkerForked(const ServerOptions& o) {
  return RunHooks(o.hooks, HookPhase::kPostFork);
}

absl::Status WorkerLoadApp(const ServerOptions& o, const std::function<absl::Status()>& load) {
  if (absl::Status s = RunHooks(o.hooks, HookPhase::kPreApp); !s.ok()) return s;
  if (absl::Status s = load(); !s.ok()) return s;
  return RunHooks(o.hooks, HookPhase::kPostApp);
}

absl::Status WorkerAppReady(const ServerOptions& o) {
  if (o.chdir2.empty()) return absl::OkStatus();
  if (chdir(o.chdir2.c_str()) != 0) {
    return base::ErrnoError(errno, "chdir2: chdir", o.chdir2);
  }
  log::Notice("chdir() to %s", o.chdir2);
  return absl::OkStatus();
}

absl::Status WorkerAccepting(const ServerOptions& o, int worker_id) {
  const bool once = (!o.hooks.at(HookPhase::kAcceptingOnce).empty() ||
                     !o.hooks.at(HookPhase::kAccepting1Once).empty()) &&
                    FirstAccepting(worker_id);
  if (absl::Status s = RunHooks(o.hooks, HookPhase::kAccepting); !s.ok()) return s;
  if (once) {
    if (absl::Status s = RunHooks(o.hooks, HookPhase::kAcceptingOnce); !s.ok()) return s;
  }
  if (worker_id == 1) {
    if (absl::Status s = RunHooks(o.hooks, HookPhase::kAccepting1); !s.ok()) return s;
    if (once) {
      if (absl::Status s = RunHooks(o.hooks, HookPhase::kAccepting1Once); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

void RunAtexitHooks(const ServerOptions& o) {
  for (const HookAction& a : o.hooks.at(HookPhase::kAsUserAtexit)) {
    Hooks one;
    one.at(HookPhase::kAsUserAtexit).push_back(a);
    if (absl::Status s = RunHooks(one, HookPhase::kAsUserAtexit); !s.ok()) {
      log::Error("%s", base::Sv(s.message()));
    }
  }
}

}  // namespace kiln::process
