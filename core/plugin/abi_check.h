// Pure validation of a plugin descriptor before any plugin code with side effects runs: magic,
// size, ABI major/minor, build flags, well-formed tables, then conflicts with plugins already
// loaded. One check, one message. No dlopen, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "kiln/plugin.h"

namespace kiln::plugin {

// What this kiln offers; tests build other values.
struct HostAbi {
  uint16_t major = KILN_ABI_MAJOR;
  uint16_t minor = KILN_ABI_MINOR;
  uint32_t pointer_size = sizeof(void*);
  bool sanitizer = false;

  static HostAbi Current();
};

// Checks one descriptor returned by the plugin at `path`. FailedPrecondition for an ABI or
// build mismatch, InvalidArgument for a malformed descriptor; each message names the path
// and both sides of the mismatch.
absl::Status CheckDescriptor(const kiln_plugin_desc* desc, std::string_view path,
                             const HostAbi& host);

// The identity of a plugin already loaded, as conflicts are checked against.
struct LoadedIdentity {
  std::string name;
  std::string path;
  std::vector<std::string> aliases;
  std::vector<uint8_t> modifier1;
  std::vector<std::string> logger_schemes;
};

// The modifier1 numbers a descriptor claims, or {forced} when `plugins = N:name` forced one.
std::vector<uint8_t> ClaimedModifiers(const kiln_plugin_desc& desc, int forced_modifier1);

// Duplicate name (or alias), modifier1 or logger scheme against `loaded`. FailedPrecondition
// naming both plugins.
absl::Status CheckConflicts(const kiln_plugin_desc& desc, std::string_view path,
                            const std::vector<uint8_t>& modifier1,
                            const std::vector<LoadedIdentity>& loaded);

// The identity of a checked descriptor.
LoadedIdentity IdentityOf(const kiln_plugin_desc& desc, std::string_view path,
                          std::vector<uint8_t> modifier1);

}  // namespace kiln::plugin
