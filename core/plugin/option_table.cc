// Plugin option tables: rows -> registry specs, extern rows against the registry, and the
// generic setter that writes each row's value at its offset in the plugin's settings (as
// nginx's ngx_conf_set_*_slot do for a module's conf struct). See option_table.h.
#include "core/plugin/option_table.h"

#include <cstddef>
#include <cstring>
#include <deque>
#include <mutex>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace kiln::plugin {
namespace {

// Host memory behind the kiln_str and kiln_str_list values written into settings. The SDK
// promises they live as long as the process, so it is never freed; it only grows when a
// configuration is handed to the plugins (once per process outside tests). Deques keep every
// element where it was put.
struct OptionArena {
  std::mutex mu;
  std::deque<std::string> strings;
  std::deque<std::vector<kiln_str>> lists;
};

OptionArena& Arena() {
  static OptionArena* arena = new OptionArena;  // never destroyed: plugins read it until exit
  return *arena;
}

// Caller holds the arena's lock.
kiln_str Keep(OptionArena& arena, std::string text) {
  const std::string& kept = arena.strings.emplace_back(std::move(text));
  return kiln_str{kept.c_str(), kept.size()};
}

config::OptionSpec SpecOf(const kiln_plugin_desc& desc, const char* name, uint32_t kind,
                          const char* default_value, const char* help, uint32_t flags) {
  config::OptionSpec spec;
  spec.name = name;
  spec.kind = KindOf(kind);
  spec.default_value = default_value == nullptr ? "" : default_value;
  spec.help = help == nullptr ? "" : help;
  spec.owner = desc.name;
  spec.comma_list = (flags & KILN_OPTF_COMMA_LIST) != 0;
  return spec;
}

void Store(void* settings, const kiln_option_field& field, const void* value, size_t size) {
  std::memcpy(static_cast<char*>(settings) + field.offset, value, size);
}

}  // namespace

config::OptionKind KindOf(uint32_t kind) {
  switch (kind) {
    case KILN_OPT_FLAG:
      return config::OptionKind::kFlag;
    case KILN_OPT_NUMBER:
      return config::OptionKind::kNumber;
    case KILN_OPT_SIZE:
      return config::OptionKind::kSize;
    case KILN_OPT_DURATION:
      return config::OptionKind::kDuration;
    case KILN_OPT_STRING:
      return config::OptionKind::kString;
    case KILN_OPT_LIST:
      return config::OptionKind::kList;
  }
  return config::OptionKind::kString;
}

bool HasOptionDefFields(const kiln_plugin_desc& desc) {
  return desc.size >= offsetof(kiln_plugin_desc, settings_size) + sizeof(desc.settings_size);
}

std::vector<const kiln_option_def*> OptionDefs(const kiln_plugin_desc& desc) {
  std::vector<const kiln_option_def*> rows;
  if (!HasOptionDefFields(desc) || desc.option_defs == nullptr) {
    return rows;
  }
  const char* base = reinterpret_cast<const char*>(desc.option_defs);
  for (size_t i = 0; i < desc.option_def_count; ++i) {
    rows.push_back(reinterpret_cast<const kiln_option_def*>(base + i * desc.option_def_size));
  }
  return rows;
}

std::vector<std::string> SplitAliases(const char* aliases) {
  if (aliases == nullptr || aliases[0] == '\0') {
    return {};
  }
  return absl::StrSplit(aliases, '|');
}

std::vector<config::OptionSpec> DeclaredOptions(const kiln_plugin_desc& desc) {
  std::vector<config::OptionSpec> specs;
  for (size_t i = 0; i < desc.option_count; ++i) {
    const kiln_option_spec& o = desc.options[i];
    specs.push_back(SpecOf(desc, o.name, o.kind, o.default_value, o.help, o.flags));
  }
  for (const kiln_option_def* row : OptionDefs(desc)) {
    if ((row->flags & KILN_OPTF_EXTERN) != 0) {
      continue;
    }
    config::OptionSpec spec =
        SpecOf(desc, row->name, row->kind, row->default_value, row->help, row->flags);
    spec.aliases = SplitAliases(row->aliases);
    specs.push_back(std::move(spec));
  }
  return specs;
}

absl::Status CheckExternOptions(const kiln_plugin_desc& desc,
                                const config::OptionRegistry& registry) {
  for (const kiln_option_def* row : OptionDefs(desc)) {
    if ((row->flags & KILN_OPTF_EXTERN) == 0) {
      continue;
    }
    const config::OptionSpec* spec = registry.Find(row->name);
    if (spec == nullptr) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "plugin %s reads option `%s` (an extern row), which neither core nor a plugin loaded "
          "before it defines",
          desc.name, row->name));
    }
    if (spec->kind != KindOf(row->kind)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("plugin %s reads option `%s` as a %s, but %s defines it as a %s",
                          desc.name, row->name, config::OptionKindName(KindOf(row->kind)),
                          spec->owner == "core" ? "core" : "plugin " + spec->owner,
                          config::OptionKindName(spec->kind)));
    }
  }
  return absl::OkStatus();
}

void FillOptionFields(const kiln_plugin_desc& desc, const config::Config& cfg) {
  std::vector<const kiln_option_def*> rows = OptionDefs(desc);
  if (rows.empty() || desc.settings == nullptr) {
    return;
  }
  OptionArena& arena = Arena();
  std::lock_guard<std::mutex> lock(arena.mu);
  for (const kiln_option_def* row : rows) {
    const kiln_option_field& field = row->field;
    if (field.size == 0) {
      continue;
    }
    switch (row->kind) {
      case KILN_OPT_FLAG: {
        bool flag = cfg.GetFlag(row->name);
        if (field.size == sizeof(int)) {
          int v = flag ? 1 : 0;
          Store(desc.settings, field, &v, sizeof(v));
        } else {  // a one-byte bool: 0 or 1 is its value representation
          unsigned char v = flag ? 1 : 0;
          Store(desc.settings, field, &v, sizeof(v));
        }
        break;
      }
      case KILN_OPT_NUMBER: {
        int64_t v = cfg.GetNumber(row->name);
        Store(desc.settings, field, &v, sizeof(v));
        break;
      }
      case KILN_OPT_SIZE: {
        uint64_t v = cfg.GetSize(row->name);
        Store(desc.settings, field, &v, sizeof(v));
        break;
      }
      case KILN_OPT_DURATION: {
        int64_t v = absl::ToInt64Milliseconds(cfg.GetDuration(row->name));
        Store(desc.settings, field, &v, sizeof(v));
        break;
      }
      case KILN_OPT_STRING: {
        kiln_str v = Keep(arena, cfg.GetString(row->name));
        Store(desc.settings, field, &v, sizeof(v));
        break;
      }
      case KILN_OPT_LIST: {
        std::vector<kiln_str>& items = arena.lists.emplace_back();
        for (std::string& text : cfg.GetList(row->name)) {
          items.push_back(Keep(arena, std::move(text)));
        }
        kiln_str_list v{items.empty() ? nullptr : items.data(), items.size()};
        Store(desc.settings, field, &v, sizeof(v));
        break;
      }
      default:
        break;  // refused by CheckDescriptor
    }
  }
}

}  // namespace kiln::plugin
