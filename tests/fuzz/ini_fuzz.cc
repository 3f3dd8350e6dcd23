// Fuzz target for the configuration reader: the input is an ini file (and every file it
// includes, reads with for-readline or @(), all backed by the same bytes) read through
// ReadConfig and Resolve. Any input must give a config or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/config/config.h"

namespace {

class FuzzHost : public kiln::config::ConfigHost {
 public:
  explicit FuzzHost(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    if (path.find("missing") != std::string::npos) return absl::NotFoundError(path);
    return data_;
  }
  bool Exists(const std::string& path) const override { return path.size() % 2 == 0; }
  bool IsFile(const std::string& path) const override { return path.size() % 3 == 0; }
  bool IsDir(const std::string& path) const override { return path.size() % 3 == 1; }
  std::string RealPath(const std::string& path) const override {
    return path.starts_with("/") ? path : "/fuzz/" + path;
  }
  std::vector<std::string> Glob(const std::string& pattern) const override {
    return {pattern + "1", pattern + "2"};
  }
  std::optional<std::string> GetEnv(const std::string& name) const override {
    if (name == "HOME") return "/home/fuzz";
    if (name == "SELF") return "$(SELF)";
    return std::nullopt;
  }
  std::string Cwd() const override { return "/fuzz"; }
  std::string Hostname() const override { return "fuzzhost"; }
  int64_t NowMicros() const override { return 1; }
  int Cpus() const override { return 2; }
  uint32_t Uid() const override { return 0; }
  uint32_t Gid() const override { return 0; }
  std::string UserName() const override { return "root"; }
  std::string GroupName() const override { return "root"; }

 private:
  std::string data_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kiln::config::OptionRegistry registry =
      kiln::config::OptionRegistry::WithCoreOptions();
  FuzzHost host(std::string(reinterpret_cast<const char*>(data), size));
  kiln::config::Diagnostics diag;
  auto raw = kiln::config::ReadConfig({"/fuzz/main.ini"}, registry, diag, host);
  if (!raw.ok()) return 0;
  auto config = kiln::config::Resolve(*raw, registry, nullptr, diag);
  if (config.ok()) {
    (void)config->GetList("plugins");
    (void)config->GetNumber("processes");
  }
  return 0;
}
