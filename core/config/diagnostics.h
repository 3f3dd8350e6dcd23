// Startup notices, warnings and errors gathered while reading and resolving the configuration.
// main prints them as "kiln: warning: app.ini:3: ..." lines. Pure data, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::config {

enum class Severity { kNotice, kWarning, kError };

struct Diagnostic {
  Severity severity;
  std::string file;  // "" when the diagnostic has no place (or came from the command line)
  int line = 0;      // 0 when unknown
  std::string message;
};

class Diagnostics {
 public:
  void Notice(std::string file, int line, std::string msg);
  void Warn(std::string file, int line, std::string msg);
  void Error(std::string file, int line, std::string msg);

  const std::vector<Diagnostic>& items() const { return items_; }
  size_t Count(Severity severity) const;

  // Turns every warning into an error (strict = true). Returns how many were turned.
  size_t PromoteWarnings();

  // "kiln: warning: app.ini:3: message" (no trailing newline).
  static std::string Format(const Diagnostic& d);

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace kiln::config
