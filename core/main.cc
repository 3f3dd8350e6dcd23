// kiln's entry point: argv -> Config -> plugins -> server. Wiring only; the logic lives in
// core/config (reading, resolving, help text) and the parts the server is made of.
#include <cstdio>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "core/build_info.h"
#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/help.h"
#include "core/config/option_registry.h"
#include "core/plugin/plugin_set.h"
#include "core/process/builtin_application.h"

namespace {

void PrintDiagnostics(const kiln::config::Diagnostics& diag) {
  for (const kiln::config::Diagnostic& d : diag.items()) {
    std::fprintf(stderr, "%s\n", kiln::config::Diagnostics::Format(d).c_str());
  }
}

int Fail(const kiln::config::Diagnostics& diag, const absl::Status& status) {
  PrintDiagnostics(diag);
  std::fprintf(stderr, "kiln: error: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using kiln::config::OptionRegistry;
  if (argc == 3 && std::string(argv[1]) == "--plugin-info") {  // --plugin-info
    absl::StatusOr<std::string> info = kiln::plugin::PluginInfo(argv[2]);
    if (!info.ok()) return Fail(kiln::config::Diagnostics(), info.status());
    std::fputs(info->c_str(), stdout);
    return 0;
  }
  std::vector<std::string> args;
  bool print_config = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--print-config") {
      print_config = true;
    } else {
      args.push_back(std::move(arg));
    }
  }
  OptionRegistry registry = OptionRegistry::WithCoreOptions();
  for (const std::string& arg : args) {
    if (arg == "--version") {
      std::printf("kiln %s\n", KILN_VERSION_STRING);
      return 0;
    }
    if (arg == "--help") {
      std::fputs(kiln::config::HelpText(registry).c_str(), stdout);
      return 0;
    }
    if (arg == "--help-markdown") {
      std::fputs(kiln::config::OptionsMarkdown(registry).c_str(), stdout);
      return 0;
    }
  }
  if (args.empty()) {
    std::fprintf(stderr, "kiln: no configuration given (try kiln --help)\n");
    return 1;
  }

  kiln::config::Diagnostics diag;
  absl::StatusOr<kiln::config::RawConfig> raw = kiln::config::ReadConfig(args, registry, diag);
  if (!raw.ok()) return Fail(diag, raw.status());
  if (!raw->positional.empty()) {
    return Fail(diag, absl::InvalidArgumentError("unexpected argument `" + raw->positional[0] +
                                                 "` (configuration files end in .ini)"));
  }

  // plugins: load what the config names, extend the registry
  // (plugins / plugin-dir / autoload entries of *raw; ProviderLookup from the installed
  // plugins' descriptors).
  kiln::config::ProviderLookup providers = [](std::string_view) { return std::string(); };

  absl::StatusOr<kiln::config::Config> config =
      kiln::config::Resolve(*raw, registry, providers, diag);
  if (!config.ok()) return Fail(diag, config.status());
  PrintDiagnostics(diag);
  if (print_config) {
    std::fputs(kiln::config::PrintConfig(config->entries()).c_str(), stdout);
    return 0;
  }

  // server: start here (build the Server from *config and run the master).
  kiln::process::BuiltinApplication app;
  return kiln::process::RunServer(*config, app, std::vector<std::string>(argv, argv + argc));
}
