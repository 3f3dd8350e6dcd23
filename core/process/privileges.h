// Users, groups and the privilege drop: resolve `uid`/`gid`/`chown-socket` names, then
// setgid -> initgroups/setgroups -> setuid, each checked (docs/decisions.md 11-12).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::process {

struct UserInfo {
  uid_t uid = 0;
  gid_t primary_gid = 0;
  std::string name;  // empty when given as a number with no passwd entry
};

// A user by name or number. NotFound names the user.
absl::StatusOr<UserInfo> ResolveUser(std::string_view name_or_id);
// A group by name or number.
absl::StatusOr<gid_t> ResolveGroup(std::string_view name_or_id);

struct Ownership {
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};
// `chown-socket = user[:group]`.
absl::StatusOr<Ownership> ResolveOwnership(std::string_view spec);

struct DropPlan {
  std::optional<UserInfo> user;  // `uid`
  std::optional<gid_t> gid;      // `gid`
};

// Resolves the `uid` / `gid` options (either may be empty).
absl::StatusOr<DropPlan> PlanPrivilegeDrop(std::string_view uid, std::string_view gid);

// Drops to the plan: setgid (the gid option, or the user's primary group when only uid is
// set), supplementary groups (initgroups for a named user, else just the gid), then setuid.
// Returns the lines to log ("setgid() to 65534", ...). Does nothing when already running
// as the target ids (a re-executed master). Refuses when a step leaves root privileges.
absl::StatusOr<std::vector<std::string>> DropPrivileges(const DropPlan& plan);

// The start-up warning when, after DropPrivileges, kiln still runs as root (`euid` 0): what
// runs as root (the master and the workers, so the application) and the option that fixes it.
// Nothing when `euid` is not 0 (kiln was started by an unprivileged user, or dropped root).
std::optional<std::string> RootWarning(const DropPlan& plan, uid_t euid);

}  // namespace kiln::process
