// Logger plugin handles behind the core's Sink interface.
#include "core/plugin/plugin_sink.h"

#include "absl/strings/str_format.h"
#include "core/log/file_sink.h"
#include "core/plugin/host_api.h"

namespace kiln::plugin {
namespace {

// Holds copies of the plugin's logger callbacks (they live in the plugin's code, which is never
// unloaded), not a reference to the plugin set, so a sink may outlive the set that opened it.
class PluginSink : public log::Sink {
 public:
  PluginSink(const kiln_callbacks& cb, std::string describe, void* handle, bool batches)
      : batches_(batches),
        write_(cb.on_logger_write),
        reopen_(cb.on_logger_reopen),
        close_(cb.on_logger_close),
        describe_(std::move(describe)),
        handle_(handle) {}
  ~PluginSink() override {
    if (close_ != nullptr) {
      close_(handle_);
    }
  }

  void Write(std::string_view line) override {
    if (write_(handle_, kiln_str{line.data(), line.size()}) != KILN_OK) {
      RecordFailure(TakePluginError("write failed"));
    }
  }

  // A plugin that takes batches gets the request-log batch in calls of at most PIPE_BUF bytes
  // cut at line ends (one call for the default request-log-buffer), so its one write() per
  // call stays whole on a pipe too; others get it line by line.
  void WriteLines(std::string_view lines, size_t count) override {
    if (!batches_) {
      log::Sink::WriteLines(lines, count);
      return;
    }
    while (!lines.empty()) {
      const size_t cut = log::PipeSafePrefix(lines);
      if (write_(handle_, kiln_str{lines.data(), cut}) != KILN_OK) {
        RecordFailure(TakePluginError("write failed"), count);
        return;
      }
      lines.remove_prefix(cut);
    }
  }

  absl::Status Reopen() override {
    if (reopen_ == nullptr) {
      return absl::OkStatus();
    }
    if (reopen_(handle_) != KILN_OK) {
      return absl::UnavailableError(TakePluginError("reopen failed"));
    }
    return absl::OkStatus();
  }

  std::string Describe() const override { return describe_; }

 private:
  bool batches_;
  kiln_status (*write_)(void*, kiln_str);
  kiln_status (*reopen_)(void*);
  void (*close_)(void*);
  std::string describe_;
  void* handle_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<log::Sink>> OpenPluginSink(LoadedPlugin& plugin,
                                                          const std::string& scheme,
                                                          std::string_view arg) {
  void* handle = nullptr;
  kiln_status st =
      plugin.callbacks.on_logger_open(plugin.callbacks.ctx, kiln_str{scheme.data(), scheme.size()},
                                      kiln_str{arg.data(), arg.size()}, &handle);
  if (st != KILN_OK) {
    return absl::UnavailableError(absl::StrFormat("plugin %s cannot open it: %s", plugin.name,
                                                  TakePluginError("no reason given")));
  }
  return std::unique_ptr<log::Sink>(
      new PluginSink(plugin.callbacks, absl::StrFormat("%s:%s", scheme, arg), handle,
                     plugin.desc != nullptr && (plugin.desc->flags & KILN_PLUGIN_LOGGER_BATCHES) != 0));
}

}  // namespace kiln::plugin
