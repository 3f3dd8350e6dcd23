// Descriptor checks in the order nginx's ngx_add_module makes them: version, then signature
// (build flags), then the shape of the tables, then duplicates. None calls plugin code.
#include "core/plugin/abi_check.h"

#include <cstddef>
#include <set>

#include "absl/strings/str_format.h"
#include "core/plugin/option_table.h"

namespace kiln::plugin {
namespace {

// A descriptor of ABI 1.0 is at least this large (it ends with `init`); later minors append,
// and a plugin built with older headers has a shorter descriptor than this host's.
constexpr size_t kMinDescSize = offsetof(kiln_plugin_desc, option_defs);
constexpr size_t kMaxModifiers = 256;
constexpr size_t kMaxOptions = 4096;
constexpr size_t kMaxAliases = 256;
constexpr size_t kMaxRowSize = 1024;  // a later minor's kiln_option_def, with room to grow

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

// An option name or alias: printable, no blank, no '=' (it ends a key) and no '|' (it
// separates aliases).
bool ValidOptionName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == '=' || c == '|') {
      return false;
    }
  }
  return true;
}

// The C type of a destination: its size(s) and alignment, by the row's kind.
bool FieldFits(uint32_t kind, const kiln_option_field& f) {
  switch (kind) {
    case KILN_OPT_FLAG:
      return (f.size == sizeof(int) && f.offset % alignof(int) == 0) || f.size == 1;
    case KILN_OPT_NUMBER:
    case KILN_OPT_SIZE:
    case KILN_OPT_DURATION:
      return f.size == sizeof(int64_t) && f.offset % alignof(int64_t) == 0;
    case KILN_OPT_STRING:
      return f.size == sizeof(kiln_str) && f.offset % alignof(kiln_str) == 0;
    case KILN_OPT_LIST:
      return f.size == sizeof(kiln_str_list) && f.offset % alignof(kiln_str_list) == 0;
  }
  return false;
}

const char* FieldType(uint32_t kind) {
  switch (kind) {
    case KILN_OPT_FLAG:
      return "int or bool";
    case KILN_OPT_NUMBER:
    case KILN_OPT_DURATION:
      return "int64_t";
    case KILN_OPT_SIZE:
      return "uint64_t";
    case KILN_OPT_STRING:
      return "kiln_str";
    case KILN_OPT_LIST:
      return "kiln_str_list";
  }
  return "?";
}

// The 1.1 table: its shape, each row, and each destination inside the settings struct.
// `seen` holds the 1.0 rows' names; every name and alias must be new.
absl::Status CheckOptionDefs(const kiln_plugin_desc& d, std::string_view path,
                             std::set<std::string>& seen) {
  if (!HasOptionDefFields(d)) {
    return absl::OkStatus();  // a 1.0 descriptor: the fields do not exist
  }
  if ((d.option_defs != nullptr || d.option_def_count > 0 || d.settings != nullptr) &&
      d.abi_minor < 1) {
    return Malformed(path, absl::StrFormat("plugin %s lists option_defs or settings (ABI 1.1) but "
                                           "declares ABI %d.%d; fill the descriptor with "
                                           "KILN_DESC_HEADER of SDK 1.1 or later",
                                           d.name, d.abi_major, d.abi_minor));
  }
  if (d.option_def_count > kMaxOptions || (d.option_def_count > 0 && d.option_defs == nullptr)) {
    return Malformed(path, absl::StrFormat("option_defs table of %d rows at %p", d.option_def_count,
                                           static_cast<const void*>(d.option_defs)));
  }
  if (d.option_def_count > 0 &&
      (d.option_def_size < sizeof(kiln_option_def) || d.option_def_size > kMaxRowSize)) {
    return Malformed(path, absl::StrFormat("option_def_size is %d; a 1.1 row is %d bytes (fill it "
                                           "with KILN_OPTION_DEFS)",
                                           d.option_def_size, sizeof(kiln_option_def)));
  }
  if ((d.settings == nullptr) != (d.settings_size == 0)) {
    return Malformed(path, "settings and settings_size must be set together (KILN_SETTINGS)");
  }
  std::vector<std::pair<size_t, size_t>> fields;  // [offset, end) of each destination
  for (const kiln_option_def* row : OptionDefs(d)) {
    const kiln_option_def& o = *row;
    if (o.name == nullptr || !ValidOptionName(o.name)) {
      return Malformed(path,
                       absl::StrFormat("option_defs row %d has no valid name", fields.size()));
    }
    if (o.kind > KILN_OPT_LIST) {
      return Malformed(path, absl::StrFormat("option `%s` has unknown kind %d", o.name,
                                             static_cast<int>(o.kind)));
    }
    if ((o.flags & ~static_cast<uint32_t>(KILN_OPTF_COMMA_LIST | KILN_OPTF_EXTERN)) != 0) {
      return Malformed(path,
                       absl::StrFormat("option `%s` has unknown flags 0x%x", o.name, o.flags));
    }
    if ((o.flags & KILN_OPTF_EXTERN) != 0) {
      if (o.default_value != nullptr || o.help != nullptr || o.aliases != nullptr) {
        return Malformed(path, absl::StrFormat("extern option `%s` has a default, help or aliases "
                                               "(its owner declares those)",
                                               o.name));
      }
    } else {
      if (!seen.insert(o.name).second) {
        return Malformed(path, absl::StrFormat("option `%s` is listed twice", o.name));
      }
      for (const std::string& alias : SplitAliases(o.aliases)) {
        if (!ValidOptionName(alias)) {
          return Malformed(path, absl::StrFormat("option `%s` has an empty or invalid alias in "
                                                 "\"%s\"",
                                                 o.name, o.aliases));
        }
        if (!seen.insert(alias).second) {
          return Malformed(
              path, absl::StrFormat("alias `%s` of option `%s` is listed twice", alias, o.name));
        }
      }
    }
    const kiln_option_field& f = o.field;
    if (f.size == 0) {
      fields.emplace_back(0, 0);
      continue;
    }
    if (d.settings == nullptr) {
      return Malformed(path, absl::StrFormat("option `%s` has a destination but the plugin gives "
                                             "no settings struct (KILN_SETTINGS)",
                                             o.name));
    }
    if (!FieldFits(o.kind, f)) {
      return Malformed(path, absl::StrFormat("option `%s` (%s) stores into a field of %d bytes at "
                                             "offset %d; its type must be %s",
                                             o.name, config::OptionKindName(KindOf(o.kind)), f.size,
                                             f.offset, FieldType(o.kind)));
    }
    if (f.offset > d.settings_size || f.size > d.settings_size - f.offset) {
      return Malformed(path, absl::StrFormat("option `%s` stores at offset %d, past the %d-byte "
                                             "settings struct (KILN_FIELD of another type?)",
                                             o.name, f.offset, d.settings_size));
    }
    for (const auto& [begin, end] : fields) {
      if (f.offset < end && begin < f.offset + f.size) {
        return Malformed(path, absl::StrFormat("option `%s` stores into a field another option "
                                               "also uses (offset %d)",
                                               o.name, f.offset));
      }
    }
    fields.emplace_back(f.offset, f.offset + f.size);
  }
  return absl::OkStatus();
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
  return CheckOptionDefs(d, path, seen);
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
