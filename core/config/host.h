// What the configuration reader asks of the outside world: files, globs, environment and the
// facts behind magic variables (%h, %u, %k, ...). SystemHost asks the real system; tests and
// the fuzzer pass their own, so the reader itself stays pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::config {

class ConfigHost {
 public:
  virtual ~ConfigHost() = default;

  // Whole contents of a file. NotFound / PermissionDenied / ... naming the path.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) const = 0;
  virtual bool Exists(const std::string& path) const = 0;
  virtual bool IsFile(const std::string& path) const = 0;
  virtual bool IsDir(const std::string& path) const = 0;
  // Canonical absolute path (for include cycle detection); the input if it cannot be resolved.
  virtual std::string RealPath(const std::string& path) const = 0;
  // Sorted paths matching a shell pattern; empty when none.
  virtual std::vector<std::string> Glob(const std::string& pattern) const = 0;
  virtual std::optional<std::string> GetEnv(const std::string& name) const = 0;

  // Facts for magic variables.
  virtual std::string Cwd() const = 0;
  virtual std::string Hostname() const = 0;
  virtual int64_t NowMicros() const = 0;
  virtual int Cpus() const = 0;
  virtual uint32_t Uid() const = 0;
  virtual uint32_t Gid() const = 0;
  virtual std::string UserName() const = 0;
  virtual std::string GroupName() const = 0;
};

// The real system: files, glob(3), getenv, gethostname, getpwuid, ...
class SystemHost : public ConfigHost {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override;
  bool Exists(const std::string& path) const override;
  bool IsFile(const std::string& path) const override;
  bool IsDir(const std::string& path) const override;
  std::string RealPath(const std::string& path) const override;
  std::vector<std::string> Glob(const std::string& pattern) const override;
  std::optional<std::string> GetEnv(const std::string& name) const override;
  std::string Cwd() const override;
  std::string Hostname() const override;
  int64_t NowMicros() const override;
  int Cpus() const override;
  uint32_t Uid() const override;
  uint32_t Gid() const override;
  std::string UserName() const override;
  std::string GroupName() const override;
};

}  // namespace kiln::config
