// The emperor: one single-threaded, poll-driven process that runs a vassal (a full kiln,
// `kiln --ini FILE`) per config file of its directories, reloads a vassal gracefully when its
// file changes, stops it when the file goes, respawns a vassal whose master dies, throttles
// and blacklists one that dies before it was ever ready, and answers HUP/TERM/INT/QUIT/USR1.
// main dispatches here when `emperor` is set; no plugin is loaded in the emperor.
#pragma once

#include <string>
#include <vector>

#include "core/emperor/emperor_options.h"

namespace kiln::config {
class Config;
}

namespace kiln::emperor {

// Runs until the emperor is stopped; returns the exit code (1 when it cannot start).
int RunEmperor(const config::Config& cfg);

}  // namespace kiln::emperor
