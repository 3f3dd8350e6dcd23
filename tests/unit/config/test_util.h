// Helpers for the configuration tests: the suite's temporary directory, and a host with fixed
// facts for magic variables.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/host.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::config::testing {

// The one temp-dir fixture of the test suite (tests/lib/kiln_process.h).
using TempDir = kiln::testing::TempDir;

// The real file system and environment, with fixed facts for the global magic variables.
class FixedHost : public SystemHost {
 public:
  std::optional<std::string> GetEnv(const std::string& name) const override {
    auto it = env.find(name);
    if (it != env.end()) return it->second;
    return std::nullopt;
  }
  std::string Cwd() const override { return "/srv/cwd"; }
  std::string Hostname() const override { return "web1"; }
  int64_t NowMicros() const override { return 1700000000123456; }
  int Cpus() const override { return 4; }
  uint32_t Uid() const override { return 33; }
  uint32_t Gid() const override { return 34; }
  std::string UserName() const override { return "www-data"; }
  std::string GroupName() const override { return "www-group"; }

  std::map<std::string, std::string> env;
};

// `name = value` lines of the entries, for compact comparisons.
inline std::vector<std::string> Lines(const RawConfig& raw) {
  std::vector<std::string> out;
  for (const Entry& e : raw.entries) out.push_back(e.key + " = " + e.value);
  return out;
}

inline std::vector<std::string> Messages(const Diagnostics& diag) {
  std::vector<std::string> out;
  for (const Diagnostic& d : diag.items()) out.push_back(Diagnostics::Format(d));
  return out;
}

}  // namespace kiln::config::testing
