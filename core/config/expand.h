// Expansion of configuration values: magic variables (%d, %n, %k, ...), and the references
// $(ENV), @(file) and %(name) / %(a + b). Pure: everything outside comes through callbacks.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config/host.h"

namespace kiln::config {

// Longest value an expansion may produce; longer is an error (a runaway reference chain).
inline constexpr size_t kMaxValueBytes = size_t{1} << 20;

// The file a value was read from, for file-based magic.
struct MagicFile {
  std::string path;      // absolute (canonical when it exists)
  std::string as_given;  // as the user wrote it (%o)
  std::string section;   // %x
};

struct MagicContext {
  MagicFile file;   // lowercase magic: this file
  MagicFile first;  // uppercase magic: the first file read
  const ConfigHost* host = nullptr;
};

// Replaces each `%X` magic variable. `%(` is left for reference expansion, `%%` becomes `%`.
// Unknown letters become "" (as uWSGI) and are appended to `unknown`.
std::string ExpandMagic(std::string_view value, const MagicContext& ctx, std::string* unknown);

struct RefHooks {
  // $(NAME): the variable's value, or nullopt when unset.
  std::function<std::optional<std::string>(const std::string&)> env;
  // @(path): the file's contents (caller strips the final newline), or an error.
  std::function<absl::StatusOr<std::string>(const std::string&)> file;
  // %(name): the expanded value, or nullopt when no option or placeholder has that name.
  std::function<std::optional<std::string>(const std::string&)> placeholder;
};

// Expands $(..), @(..) and %(..) left to right; parentheses nest and the inside is expanded
// first. `%(a + b)` with space-separated tokens is arithmetic (+ - * /, left to right, `++`
// and `--`), operands being numbers or names. A reference that cannot be resolved stays
// verbatim and is appended to `unresolved`. Fails on @(file) errors and on a result longer
// than kMaxValueBytes.
absl::StatusOr<std::string> ExpandRefs(std::string_view value, const RefHooks& hooks,
                                       std::vector<std::string>* unresolved);

// Names referenced as %(name) in `value` (arithmetic operands included), for placeholder use.
std::vector<std::string> ReferencedNames(std::string_view value);

}  // namespace kiln::config
