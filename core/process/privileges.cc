// User and group resolution and the checked privilege drop.
#include "core/process/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"

namespace kiln::process {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

absl::StatusOr<UserInfo> ResolveUser(std::string_view name_or_id) {
  std::string key(name_or_id);
  std::vector<char> buf(16384);
  passwd pw;
  passwd* res = nullptr;
  UserInfo info;
  if (AllDigits(name_or_id)) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(key, &id)) {
      return absl::InvalidArgumentError(absl::StrFormat("uid `%s` is out of range", key));
    }
    getpwuid_r(id, &pw, buf.data(), buf.size(), &res);
    info.uid = id;
    if (res != nullptr) {
      info.primary_gid = pw.pw_gid;
      info.name = pw.pw_name;
    } else {
      info.primary_gid = id;  // no passwd entry: the group of the same number, as id(1) shows
    }
    return info;
  }
  getpwnam_r(key.c_str(), &pw, buf.data(), buf.size(), &res);
  if (res == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("user `%s` does not exist (no passwd entry); give a user name or a "
                        "numeric uid",
                        key));
  }
  info.uid = pw.pw_uid;
  info.primary_gid = pw.pw_gid;
  info.name = pw.pw_name;
  return info;
}

absl::StatusOr<gid_t> ResolveGroup(std::string_view name_or_id) {
  std::string key(name_or_id);
  if (AllDigits(name_or_id)) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(key, &id)) {
      return absl::InvalidArgumentError(absl::StrFormat("gid `%s` is out of range", key));
    }
    return static_cast<gid_t>(id);
  }
  std::vector<char> buf(16384);
  group gr;
  group* res = nullptr;
  getgrnam_r(key.c_str(), &gr, buf.data(), buf.size(), &res);
  if (res == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("group `%s` does not exist; give a group name or a numeric gid", key));
  }
  return gr.gr_gid;
}

absl::StatusOr<Ownership> ResolveOwnership(std::string_view spec) {
  Ownership own;
  size_t colon = spec.find(':');
  std::string_view user = spec.substr(0, colon);
  if (!user.empty()) {
    auto u = ResolveUser(user);
    if (!u.ok()) {
      return u.status();
    }
    own.uid = u->uid;
  }
  if (colon != std::string_view::npos && colon + 1 < spec.size()) {
    auto g = ResolveGroup(spec.substr(colon + 1));
    if (!g.ok()) {
      return g.status();
    }
    own.gid = *g;
  }
  if (!own.uid && !own.gid) {
    return absl::InvalidArgumentError(
        absl::StrFormat("`%s` is not of the form user[:group]", spec));
  }
  return own;
}

absl::StatusOr<DropPlan> PlanPrivilegeDrop(std::string_view uid, std::string_view gid) {
  DropPlan plan;
  if (!uid.empty()) {
    auto u = ResolveUser(uid);
    if (!u.ok()) {
      return u.status();
    }
    plan.user = *u;
  }
  if (!gid.empty()) {
    auto g = ResolveGroup(gid);
    if (!g.ok()) {
      return g.status();
    }
    plan.gid = *g;
  }
  return plan;
}

absl::StatusOr<std::vector<std::string>> DropPrivileges(const DropPlan& plan) {
  std::vector<std::string> log;
  if (!plan.user && !plan.gid) {
    return log;
  }
  std::optional<gid_t> gid = plan.gid;
  if (!gid && plan.user) {
    gid = plan.user->primary_gid;
  }
  bool already = (!plan.user || getuid() == plan.user->uid) && (!gid || getgid() == *gid);
  if (already && (geteuid() != 0 || (plan.user && plan.user->uid == 0))) {
    return log;  // a re-executed master that already runs as the target ids
  }
  // Only root may switch ids: say so, and what to change, instead of a bare EPERM.
  const std::string hint = absl::StrFormat(
      "kiln runs as uid %d, and only root may switch to another user or group: start kiln as "
      "root (it drops to `uid`/`gid` after binding), or remove `uid` and `gid` to keep running "
      "as uid %d",
      static_cast<int>(geteuid()), static_cast<int>(geteuid()));
  if (gid) {
    if (setgid(*gid) != 0) {
      return base::PermissionError(errno, "setgid", std::to_string(*gid), hint);
    }
    log.push_back(absl::StrFormat("setgid() to %d%s", *gid,
                                  !plan.gid ? " (the primary group of the uid user)" : ""));
    if (plan.user && !plan.user->name.empty()) {
      if (initgroups(plan.user->name.c_str(), *gid) != 0) {
        return base::PermissionError(errno, "initgroups", plan.user->name, hint);
      }
      int n = getgroups(0, nullptr);
      log.push_back(absl::StrFormat("set %d supplementary group(s) of user %s", n > 0 ? n : 0,
                                    plan.user->name));
    } else {
      gid_t g = *gid;
      if (setgroups(1, &g) != 0) {
        return base::PermissionError(errno, "setgroups", std::to_string(g), hint);
      }
    }
  }
  if (plan.user) {
    if (setuid(plan.user->uid) != 0) {
      return base::PermissionError(errno, "setuid", std::to_string(plan.user->uid), hint);
    }
    if (plan.user->uid != 0 && setuid(0) == 0) {
      return absl::FailedPreconditionError(
          "privilege drop failed: setuid(0) still succeeds after dropping to the uid user");
    }
    log.push_back(absl::StrFormat("setuid() to %d", plan.user->uid));
  }
  return log;
}

std::optional<std::string> RootWarning(const DropPlan& plan, uid_t euid) {
  if (euid != 0) {
    return std::nullopt;
  }
  std::string why;
  if (plan.user) {
    why = "`uid` names root (uid 0)";
  } else if (plan.gid) {
    why = absl::StrFormat("only `gid` is set (gid %d), which changes the group, not the user",
                          *plan.gid);
  } else {
    why = "no `uid` is set";
  }
  return absl::StrFormat(
      "*** WARNING: running as root: the master and every worker (the application's code) run "
      "as uid 0 because %s; set `uid` to an unprivileged user (e.g. uid = www-data, with gid "
      "= www-data) ***",
      why);
}

}  // namespace kiln::process
