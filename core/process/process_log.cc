// Process lines -> the server log. Notice level: they show unless the log level is raised
// above it, and they carry no "warning:"/"error:" prefix of their own (the text says so).
#include "core/process/process_log.h"

#include "core/log/logger.h"

namespace kiln::process {

void LogLine(std::string_view line) { log::Log(log::Level::kNotice, line); }

}  // namespace kiln::process
