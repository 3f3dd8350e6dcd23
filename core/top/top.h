// `kiln top ADDR`: a live terminal view of a stats address, as uwsgitop gives uWSGI users.
// Totals and the listen queue at the top, then one row per worker (status, requests, req/s,
// average response time, RSS, respawns), refreshed each second; `q` quits. Plain ANSI
// escapes on the terminal; reads any server that speaks uWSGI's stats JSON (kiln or uWSGI).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/top/json.h"

namespace kiln::top {

// Runs the view; `args` are what follows `top` on the command line. Returns the exit code.
int RunTop(const std::vector<std::string>& args);

// One stats document from `address` (with ':' TCP host:port, else a unix socket path;
// `http://host:port` asks a stats-http address with GET /). Waits at most 3 s.
absl::StatusOr<JsonValue> FetchStats(const std::string& address);

// The screen for `now` (and `before`, one refresh earlier, for req/s; null on the first),
// `seconds` apart; lines end with "\n".
std::string RenderFrame(const std::string& address, const JsonValue& now, const JsonValue* before,
                        double seconds);

}  // namespace kiln::top
