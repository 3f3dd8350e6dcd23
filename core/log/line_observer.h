// A hook that sees every line the server log writes (log-alarm matches its regexes here). Kept
// apart from the logger so that the logger calls one function per line and knows nothing of
// what watches it.
#pragma once

#include <string_view>

namespace kiln::log {

// Called with each server log line as written (prefix included, no trailing newline), on the
// logging thread and with the logger's lock held: it must not log, block or take locks the
// logger may hold. Request lines reach it too when they go to the server log (no req-logger),
// as uWSGI's log-alarm sees them in its log pipe.
using LineObserver = void (*)(std::string_view line);

// Installs the observer (nullptr removes it). Call before forking: the children inherit it.
void SetLineObserver(LineObserver observer);

// For the logger: hands `lines` (one or more lines, each ending in '\n' but maybe the last)
// to the observer, one line at a time. Does nothing without an observer.
void ObserveLines(std::string_view lines);

}  // namespace kiln::log
