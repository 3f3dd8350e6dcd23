// Collects startup diagnostics in the order they were raised.
#include "core/config/diagnostics.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kiln::config {

void Diagnostics::Notice(std::string file, int line, std::string msg) {
  items_.push_back({Severity::kNotice, std::move(file), line, std::move(msg)});
}

void Diagnostics::Warn(std::string file, int line, std::string msg) {
  items_.push_back({Severity::kWarning, std::move(file), line, std::move(msg)});
}

void Diagnostics::Error(std::string file, int line, std::string msg) {
  items_.push_back({Severity::kError, std::move(file), line, std::move(msg)});
}

size_t Diagnostics::Count(Severity severity) const {
  size_t n = 0;
  for (const Diagnostic& d : items_) n += d.severity == severity ? 1 : 0;
  return n;
}

size_t Diagnostics::PromoteWarnings() {
  size_t n = 0;
  for (Diagnostic& d : items_) {
    if (d.severity == Severity::kWarning) {
      d.severity = Severity::kError;
      ++n;
    }
  }
  return n;
}

std::string Diagnostics::Format(const Diagnostic& d) {
  const char* level = d.severity == Severity::kNotice    ? "notice"
                      : d.severity == Severity::kWarning ? "warning"
                                                         : "error";
  std::string place;
  if (!d.file.empty()) {
    place = d.line > 0 ? absl::StrCat(d.file, ":", d.line, ": ") : absl::StrCat(d.file, ": ");
  }
  return absl::StrCat("kiln: ", level, ": ", place, d.message);
}

}  // namespace kiln::config
