// uWSGI's phase hooks (`hook-<phase> = action:argument`) and their `exec-<phase> = command`
// shortcuts: actions run at fixed points of start-up (asap, as-root, as-user, pre-app,
// post-app, post-fork, accepting..., master-start) and at exit (as-user-atexit). Parsing is
// pure and happens with the rest of the configuration, so an unknown action is a start-up
// error naming it; running an action is synchronous (a command is waited for).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::process {

// In the order uWSGI reaches them. kPostJail and kAsVassal exist so their options are read
// and checked; kiln has no jail and its emperor runs no hooks, so nothing runs them.
enum class HookPhase {
  kAsap,
  kPreJail,
  kInJail,
  kPostJail,
  kAsRoot,
  kAsUser,
  kPreApp,
  kPostApp,
  kPostFork,
  kAccepting,
  kAccepting1,
  kAcceptingOnce,
  kAccepting1Once,
  kMasterStart,
  kAsUserAtexit,
  kAsVassal,
};
inline constexpr size_t kHookPhaseCount = static_cast<size_t>(HookPhase::kAsVassal) + 1;

// "asap", "pre-jail", ..., as in the option names `hook-<name>` and `exec-<name>`.
std::string_view HookPhaseName(HookPhase phase);
// Whether uWSGI 2.0 has an `exec-<name>` shortcut for the phase.
bool HookPhaseHasExec(HookPhase phase);

struct HookAction {
  std::string text;    // as written, for messages: "exec:touch /tmp/x"
  std::string action;  // "exec", "write", ...
  std::string arg;     // what follows the first ':'
  bool quiet = false;  // `!action:...`: uWSGI's private hook, run without logging its text
};

// Parses `action:argument`. Errors name the text and, for an action kiln does not run, the
// action and the ones it does (uWSGI's actions kiln lacks are called unsupported, not typos).
absl::StatusOr<HookAction> ParseHookAction(std::string_view text);

// An `exec-<phase>` value: the command as an exec action.
HookAction ExecHookAction(std::string_view command);

struct Hooks {
  std::array<std::vector<HookAction>, kHookPhaseCount> phases;
  const std::vector<HookAction>& at(HookPhase p) const { return phases[static_cast<size_t>(p)]; }
  std::vector<HookAction>& at(HookPhase p) { return phases[static_cast<size_t>(p)]; }
};

// Runs the phase's actions in order, logging `running "exec:..." (phase)...` for each. The
// first failure stops the phase and is returned ("hook-pre-app `exec:false`: the command
// exited with code 1"); the caller decides what a failure ends (uWSGI: the instance).
absl::Status RunHooks(const Hooks& hooks, HookPhase phase);

// Runs one action now (tests and RunHooks).
absl::Status RunHookAction(const HookAction& action);

// Forks `/bin/sh -c command` with default signal handling; the child's pid, or -1 (errno).
// The caller reaps it.
pid_t SpawnShellCommand(const std::string& command);

// accepting-once / accepting1-once: true the first time any process asks for `worker_id`
// since PrepareFirstAccepting (memory shared across fork, so a respawned worker sees that
// its predecessor ran them). Without PrepareFirstAccepting, always true.
void PrepareFirstAccepting(int workers);
bool FirstAccepting(int worker_id);

}  // namespace kiln::process
