// The command line: argv -> the same entries as ini lines (`--name value`, `--name=value`,
// bare `--flag`, `--ini file[:section]`, positional `file.ini`), then ReadConfig's driver.
#include <utility>

#include "absl/strings/str_format.h"
#include "core/base/status_macros.h"
#include "core/config/config.h"
#include "core/config/reader.h"

namespace kiln::config {
namespace {

bool LooksLikeIni(const std::string& arg) {
  return arg.ends_with(".ini") || arg.find(".ini:") != std::string::npos;
}

}  // namespace

std::vector<std::string> RawConfig::Values(std::string_view key) const {
  std::vector<std::string> out;
  for (const Entry& e : entries) {
    if (e.key == key) out.push_back(e.value);
  }
  return out;
}

absl::Status Reader::ReadArgs(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("-") || arg == "-") {
      if (LooksLikeIni(arg)) {
        KILN_RETURN_IF_ERROR(ReadFile(arg));
      } else {
        raw_.positional.push_back(arg);
      }
      continue;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown argument `%s` (kiln takes long options: --name value or "
                          "--name=value; -h lists them)",
                          arg));
    }
    std::string name = arg.substr(2), value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const OptionSpec* spec = registry_.Find(name);
    if (!has_value) {
      bool next_is_value = i + 1 < args.size() && !args[i + 1].starts_with("-");
      if (spec != nullptr && spec->kind == OptionKind::kFlag) {
        value = "true";
      } else if (spec != nullptr) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(absl::StrFormat("option --%s needs a value", name));
        }
        value = args[++i];
      } else if (next_is_value) {
        value = args[++i];  // an option this kiln does not know yet: assume it takes a value
      } else {
        value = "true";
      }
    }
    if (IsBlockOpener(name) || IsBlockCloser(name)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--%s: logic blocks are read from ini files only, not from the command line", name));
    }
    if (name == "ini" || name == "include") {
      KILN_RETURN_IF_ERROR(ReadFile(value));
      continue;
    }
    KILN_RETURN_IF_ERROR(AddEntry(Entry{name, std::move(value), "", 0, true}));
  }
  return absl::OkStatus();
}

absl::StatusOr<RawConfig> ReadConfig(const std::vector<std::string>& args,
                                     const OptionRegistry& registry, Diagnostics& diag,
                                     const ConfigHost& host) {
  Reader reader(registry, diag, host);
  KILN_RETURN_IF_ERROR(reader.ReadArgs(args));
  KILN_RETURN_IF_ERROR(reader.Finish());
  return std::move(reader.raw());
}

absl::StatusOr<RawConfig> ReadConfig(const std::vector<std::string>& args,
                                     const OptionRegistry& registry, Diagnostics& diag) {
  SystemHost host;
  return ReadConfig(args, registry, diag, host);
}

}  // namespace kiln::config
