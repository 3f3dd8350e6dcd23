// Descriptor checks in the order nginx's ngx_add_module makes them: version, then signature
// (build flags), then the shape of the tables, then duplicates. None calls plugin code.
#include "core/plugin/abi_check.h"

#include <set>

#include "absl/strings/str_format.h"

namespace kiln::plugin {
namespace {

// A descriptor of ABI 1.0 is at least this large; later minors append.
constexpr size_t kMinDescSize = sizeof(kiln_plugin_desc);
constexpr size_t kMaxModifiers = 256;
constexpr size_t kMaxOptions = 4096;
constexpr size_t kMaxAliases = 256;

bool ValidName(const char* name) {
  if (name == nullptr || name[0] == '\0') {
    return false;
  }
  size_t n = 0;
  for (const char* p = name; *p != '\0'; ++p, ++n) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok || n > 64) {
      return false;
    }
  }
  return true;
}

bool ValidAlias(const char* alias) {
  if (alias == nullptr) {
    return false;
  }
  std::string a(alias);
  if (!a.empty() && a.back() == '*') {
    a.pop_back();
  }
  return ValidName(a.c_str());
}

absl::Status Malformed(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: malformed plugin descriptor: %s", path, what));
}

absl::Status CheckOptions(const kiln_plugin_desc& d, std::string_view path) {
  if (d.option_count > kMaxOptions || (d.option_count > 0 && d.options == nullptr)) {
    return Malformed(path, absl::StrFormat("option table of %d rows at %p", d.option_count,
                                           static_cast<const void*>(d.options)));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < d.option_count; ++i) {
    const kiln_option_spec& o = d.options[i];
    if (o.name == nullptr || o.name[0] == '\0') {
      return Malformed(path, absl::StrFormat("option row %d has no name", i));
    }
    if (o.kind > KILN_OPT_LIST) {
      return Malformed(path, absl::StrFormat("option `%s` has unknown kind %d", o.name,
                                             static_cast<int>(o.kind)));
    }
    if (!seen.insert(o.name).second) {
      return Malformed(path, absl::StrFormat("option `%s` is listed twice", o.name));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTables(const kiln_plugin_desc& d, std::string_view path) {
  if (!ValidName(d.name)) {
    return Malformed(path, absl::StrFormat("name `%s` is not a plugin name (a-z, 0-9, _)",
                                           d.name == nullptr ? "(null)" : d.name));
  }
  if (d.version == nullptr) {
    return Malformed(path, absl::StrFormat("plugin %s has no version string", d.name));
  }
  if (d.alias_count > kMaxAliases || (d.alias_count > 0 && d.aliases == nullptr)) {
    return Malformed(path, "alias table");
  }
  for (size_t i = 0; i < d.alias_count; ++i) {
    if (!ValidAlias(d.aliases[i])) {
      return Malformed(path,
                       absl::StrFormat("alias %d of plugin %s is not a plugin name", i, d.name));
    }
  }
  constexpr uint32_t kKnownKinds = KILN_KIND_HANDLER | KILN_KIND_LOGGER | KILN_KIND_HOOK;
  if (d.kinds == 0 || (d.kinds & ~kKnownKinds) != 0) {
    return Malformed(path, absl::StrFormat("plugin %s has kinds 0x%x (expected a combination of "
                                           "handler, logger, hook)",
                                           d.name, d.kinds));
  }
  if (d.modifier1_count > kMaxModifiers || (d.modifier1_count > 0 && d.modifier1 == nullptr)) {
    return Malformed(path, "modifier1 table");
  }
  if ((d.kinds & KILN_KIND_HANDLER) != 0 && d.modifier1_count == 0) {
    return Malformed(path, absl::StrFormat("handler plugin %s lists no modifier1 number", d.name));
  }
  if (d.logger_scheme_count > kMaxAliases ||
      (d.logger_scheme_count > 0 && d.logger_schemes == nullptr)) {
    return Malformed(path, "logger scheme table");
  }
  for (size_t i = 0; i < d.logger_scheme_count; ++i) {
    if (!ValidName(d.logger_schemes[i])) {
      return Malformed(path,
                       absl::StrFormat("logger scheme %d of plugin %s is not a name", i, d.name));
    }
  }
  if ((d.kinds & KILN_KIND_LOGGER) != 0 && d.logger_scheme_count == 0) {
    return Malformed(path, absl::StrFormat("logger plugin %s lists no scheme", d.name));
  }
  return CheckOptions(d, path);
}

}  // namespace

HostAbi HostAbi::Current() {
  HostAbi abi;
#if defined(__SANITIZE_ADDRESS__)
  abi.sanitizer = true;
#endif
  return abi;
}

absl::Status CheckDescriptor(const kiln_plugin_desc* desc, std::string_view path,
                             const HostAbi& host) {
  if (desc == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %s returned no descriptor", path, KILN_PLUGIN_QUERY_SYMBOL));
  }
  const kiln_plugin_desc& d = *desc;
  if (d.magic != KILN_PLUGIN_MAGIC) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not a kiln plugin (descriptor magic 0x%08x, expected 0x%08x)", path,
                        d.magic, KILN_PLUGIN_MAGIC));
  }
  if (d.abi_major != host.major) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: built for ABI %d, this kiln provides %d; rebuild the plugin against this kiln's SDK",
        path, d.abi_major, host.major));
  }
  if (d.size < kMinDescSize) {
    return Malformed(path, absl::StrFormat("descriptor is %d bytes, ABI %d.0 needs at least %d",
                                           d.size, host.major, kMinDescSize));
  }
  if (d.abi_minor > host.minor) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: needs kiln ABI %d.%d, this kiln provides %d.%d; upgrade kiln or rebuild the plugin "
        "against this kiln's SDK",
        path, d.abi_major, d.abi_minor, host.major, host.minor));
  }
  if (d.pointer_size != host.pointer_size) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: built with pointer size %d (this kiln: %d)", path, d.pointer_size, host.pointer_size));
  }
  if ((d.build_flags & KILN_BUILD_SANITIZER) != 0 && !host.sanitizer) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: built with AddressSanitizer, this kiln is not; build both the same way", path));
  }
  return CheckTables(d, path);
}

std::vector<uint8_t> ClaimedModifiers(const kiln_plugin_desc& desc, int forced_modifier1) {
  if (forced_modifier1 >= 0) {
    return {static_cast<uint8_t>(forced_modifier1)};
  }
  return std::vector<uint8_t>(desc.modifier1, desc.modifier1 + desc.modifier1_count);
}

LoadedIdentity IdentityOf(const kiln_plugin_desc& desc, std::string_view path,
                          std::vector<uint8_t> modifier1) {
  LoadedIdentity id;
  id.name = desc.name;
  id.path = std::string(path);
  for (size_t i = 0; i < desc.alias_count; ++i) {
    id.aliases.emplace_back(desc.aliases[i]);
  }
  id.modifier1 = std::move(modifier1);
  for (size_t i = 0; i < desc.logger_scheme_count; ++i) {
    id.logger_schemes.emplace_back(desc.logger_schemes[i]);
  }
  return id;
}

absl::Status CheckConflicts(const kiln_plugin_desc& desc, std::string_view path,
                            const std::vector<uint8_t>& modifier1,
                            const std::vector<LoadedIdentity>& loaded) {
  LoadedIdentity mine = IdentityOf(desc, path, modifier1);
  for (const LoadedIdentity& other : loaded) {
    if (other.name == mine.name) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: a plugin named %s is already loaded from %s", path, mine.name, other.path));
    }
    for (uint8_t m : mine.modifier1) {
      for (uint8_t o : other.modifier1) {
        if (m == o) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "%s: plugin %s claims modifier1 %d, already served by plugin %s (%s); force "
              "another number with `plugins = N:%s`",
              path, mine.name, m, other.name, other.path, mine.name));
        }
      }
    }
    for (const std::string& s : mine.logger_schemes) {
      for (const std::string& o : other.logger_schemes) {
        if (s == o) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "%s: plugin %s provides logger scheme `%s:`, already provided by plugin %s (%s)",
              path, mine.name, s, other.name, other.path));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::plugin
