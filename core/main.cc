// kiln's entry point: argv -> Config -> plugins -> server. Wiring only; the logic lives in
// core/config (reading, resolving, help text) and the parts the server is made of.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/base/strings.h"
#include "core/build_info.h"
#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/help.h"
#include "core/config/option_registry.h"
#include "core/emperor/emperor.h"
#include "core/plugin/host_api.h"
#include "core/plugin/log_setup.h"
#include "core/plugin/plugin_set.h"
#include "core/process/scoreboard.h"
#include "core/process/reload.h"
#include "core/process/server.h"
#include "core/top/top.h"

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds: embedded runtimes (libpython, the OpenSSL its modules load, LuaJIT) keep
// memory until exit by design; their allocations are not kiln's leaks.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libpython3\n"
         "leak:/usr/lib/python3\n"
         "leak:libcrypto.so\n"
         "leak:libssl.so\n"
         "leak:libffi.so\n"
         "leak:libexpat.so\n"
         "leak:libz.so\n"
         "leak:libbz2.so\n"
         "leak:liblzma.so\n"
         "leak:libsqlite3.so\n"
         "leak:libmpdec.so\n"
         "leak:libuuid.so\n"
         "leak:libluajit\n";
}
#endif

namespace {

// Prints the diagnostics of `diag` not yet printed: a start that fails after the warnings went
// to stderr (a log file refused, a plugin's on_config_done error) must not print them again.
void PrintDiagnostics(const kiln::config::Diagnostics& diag) {
  static const kiln::config::Diagnostics* printed_from = nullptr;
  static size_t printed = 0;
  if (printed_from != &diag) {
    printed_from = &diag;
    printed = 0;
  }
  const auto& items = diag.items();
  for (; printed < items.size(); ++printed) {
    std::fprintf(stderr, "%s\n", kiln::config::Diagnostics::Format(items[printed]).c_str());
  }
}

int Fail(const kiln::config::Diagnostics& diag, const absl::Status& status) {
  PrintDiagnostics(diag);
  std::fprintf(stderr, "kiln: error: %s\n", std::string(status.message()).c_str());
  return 1;
}

// The master and workers call the loaded plugins through this; with no handler plugin loaded
// the serving loop's built-in test handler answers.
class PluginApplication : public kiln::process::Application {
 public:
  explicit PluginApplication(kiln::plugin::PluginSet& plugins) : plugins_(plugins) {}
  absl::Status MasterStart() override { return plugins_.MasterStart(); }
  absl::Status AppLoad() override { return plugins_.AppLoad(); }
  absl::Status PostFork(int worker_id) override { return plugins_.PostFork(worker_id); }
  void WorkerExit() override { plugins_.WorkerExit(); }
  int Spool(std::string_view path, const std::vector<kiln::protocol::SpoolVar>& vars,
            std::string_view body) override {
    return plugins_.Spool(path, vars, body);
  }
  void Shutdown() override { plugins_.Shutdown(); }
  kiln::protocol::Handler* handler() override {
    return plugins_.HasHandlers() ? &plugins_ : nullptr;
  }
  // The host's scoreboard_worker reads the live slots (the region is shared with every worker).
  void ScoreboardMapped(const kiln::process::Scoreboard& scoreboard) override {
    kiln::plugin::SetHostScoreboardReader([&scoreboard](int id, kiln_worker_stats* out) {
      std::optional<kiln::process::WorkerSnapshot> s = scoreboard.Snapshot(id);
      if (!s.has_value()) {
        return false;
      }
      out->worker_id = id;
      out->pid = s->pid;
      out->state = StatsState(*s);
      out->requests = s->requests;
      out->rss_bytes = s->rss_bytes;
      out->request_start_us = 0;
      if (s->busy) {  // the scoreboard keeps monotonic time; the SDK gives wall-clock time
        int64_t running_ns = kiln::process::MonotonicNanos() - s->request_start_ns;
        out->request_start_us = absl::ToUnixMicros(absl::Now()) - running_ns / 1000;
      }
      return true;
    });
  }

 private:
  static uint32_t StatsState(const kiln::process::WorkerSnapshot& s) {
    switch (s.state) {
      case kiln::process::WorkerState::kEmpty:
        return KILN_WORKER_EMPTY;
      case kiln::process::WorkerState::kStopping:
        return KILN_WORKER_STOPPING;
      case kiln::process::WorkerState::kStarting:
      case kiln::process::WorkerState::kReady:
        break;
    }
    return s.busy ? KILN_WORKER_BUSY : KILN_WORKER_IDLE;
  }

 private:
  kiln::plugin::PluginSet& plugins_;
};

// Loads every installed plugin so their options join the registry (for --help). The returned
// set must outlive the registry's use.
absl::StatusOr<std::unique_ptr<kiln::plugin::PluginSet>> LoadEveryInstalledPlugin(
    kiln::config::OptionRegistry& registry, kiln::config::Diagnostics& diag) {
  kiln::config::RawConfig none;
  absl::StatusOr<std::unique_ptr<kiln::plugin::PluginSet>> probe =
      kiln::plugin::PluginSet::Load(none, registry, diag);
  if (!probe.ok()) return probe.status();
  kiln::config::RawConfig all;
  for (const std::string& name : (*probe)->InstalledNames()) {
    all.entries.push_back({"plugins", name, "(installed)", 0, true});
  }
  kiln::config::OptionRegistry fresh = kiln::config::OptionRegistry::WithCoreOptions();
  absl::StatusOr<std::unique_ptr<kiln::plugin::PluginSet>> loaded =
      kiln::plugin::PluginSet::Load(all, fresh, diag);
  if (!loaded.ok()) return loaded.status();
  registry = std::move(fresh);
  return loaded;
}

}  // namespace

int main(int argc, char** argv) {
  using kiln::config::OptionRegistry;
  if (argc >= 2 && std::string(argv[1]) == "--plugin-info") {  // --plugin-info PLUGIN
    if (argc != 3) {
      return Fail(kiln::config::Diagnostics(),
                  absl::InvalidArgumentError("--plugin-info takes one plugin file: kiln "
                                             "--plugin-info ./mine_plugin.so"));
    }
    absl::StatusOr<std::string> info = kiln::plugin::PluginInfo(argv[2]);
    if (!info.ok()) return Fail(kiln::config::Diagnostics(), info.status());
    std::fputs(info->c_str(), stdout);
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "top") {  // kiln top ADDR: the live stats view
    return kiln::top::RunTop(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::vector<std::string> args;
  std::optional<bool> print_config;  // --print-config (set options) or --print-config=all
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // The short forms every server answers to (uWSGI has -h too); kiln has no other short
    // options, so neither can be a value.
    if (arg == "-h") arg = "--help";
    if (arg == "-v") arg = "--version";
    if (arg == "--print-config" || arg == "--print-config=all") {
      print_config = arg.ends_with("=all");
    } else if (arg.starts_with("--print-config=")) {
      return Fail(kiln::config::Diagnostics(),
                  absl::InvalidArgumentError("--print-config takes no value but `all`: "
                                             "--print-config or --print-config=all"));
    } else {
      args.push_back(std::move(arg));
    }
  }
  OptionRegistry registry = OptionRegistry::WithCoreOptions();
  std::unique_ptr<kiln::plugin::PluginSet> documented;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "--help-markdown") {
      // Document every installed plugin's options too: load them all into the registry.
      kiln::config::Diagnostics ignored;
      auto all = LoadEveryInstalledPlugin(registry, ignored);
      if (!all.ok()) return Fail(ignored, all.status());
      documented = std::move(*all);
      break;
    }
  }
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

  // plugins: load what the config names (and what its options need), extend the registry.
  absl::StatusOr<std::unique_ptr<kiln::plugin::PluginSet>> plugins =
      kiln::plugin::PluginSet::Load(*raw, registry, diag);
  if (!plugins.ok()) return Fail(diag, plugins.status());
  kiln::config::ProviderLookup providers = (*plugins)->Providers();

  absl::StatusOr<kiln::config::Config> config =
      kiln::config::Resolve(*raw, registry, providers, diag, (*plugins)->Suggester());
  if (!config.ok()) return Fail(diag, config.status());
  PrintDiagnostics(diag);
  if (print_config.has_value()) {
    std::fputs(kiln::config::PrintConfig(*config, *print_config).c_str(), stdout);
    return 0;
  }
  // uWSGI's `print`: each message on stdout, in the order the files give them (not with
  // --print-config above, whose output must read back as a configuration).
  for (const std::string& message : config->GetList("print")) {
    std::fprintf(stdout, "%s\n", message.c_str());
  }
  std::fflush(stdout);
  if (config->GetFlag("show-config")) {  // uWSGI's option: the same, at startup, then start
    std::fputs(kiln::config::PrintConfig(*config, false).c_str(), stderr);
  }

  bool emperor = config->Has("emperor");
  if (emperor && (*plugins)->HasHandlers()) {
    return Fail(diag, absl::InvalidArgumentError(
                          "the emperor loads no language plugin: name `plugins` and the "
                          "application in the vassals' files, not in the emperor's"));
  }
  // server: plugins see the resolved config, logs open, then the master runs.
  absl::Status st = (*plugins)->ConfigDone(*config);
  if (!st.ok()) return Fail(diag, st);
  // A reload's re-executed master finds KILN_RELOADS set (core/process/reload.h).
  st = kiln::plugin::OpenConfiguredLogs(*config, **plugins,
                                        std::getenv(kiln::process::kReloadsEnv) == nullptr);
  if (!st.ok()) return Fail(diag, st);
  if (emperor) {  // the emperor: a vassal kiln per config file (core/emperor)
    return kiln::emperor::RunEmperor(*config);
  }
  PluginApplication app(**plugins);
  return kiln::process::RunServer(*config, app, std::vector<std::string>(argv, argv + argc));
}
