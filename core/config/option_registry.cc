// Option registry: insertion with duplicate checks, lookup by name or alias, suggestions.
#include "core/config/option_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/base/check.h"
#include "core/base/edit_distance.h"
#include "core/config/values.h"

namespace kiln::config {

OptionRegistry OptionRegistry::WithCoreOptions() {
  OptionRegistry registry;
  for (OptionSpec& spec : CoreOptionTable()) {
    absl::Status status = registry.Add(std::move(spec));
    KILN_CHECK(status.ok(), "core option table is inconsistent");
  }
  return registry;
}

absl::Status OptionRegistry::Add(OptionSpec spec) {
  if (spec.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("an option of `%s` has an empty name", spec.owner));
  }
  std::vector<std::string> names = spec.aliases;
  names.insert(names.begin(), spec.name);
  for (const std::string& name : names) {
    const OptionSpec* taken = Find(name);
    if (taken != nullptr) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "option `%s` of `%s` is already declared by `%s`%s", name, spec.owner, taken->owner,
          taken->name == name ? "" : absl::StrFormat(" (as an alias of `%s`)", taken->name)));
    }
  }
  if (!spec.default_value.empty()) {
    Diagnostics ignored;
    ValueContext ctx{spec.name, "option table", 0, &ignored};
    absl::Status status = ParseValue(spec, spec.default_value, ctx).status();
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("default of option `%s` (owner `%s`) does not parse: %s", spec.name,
                          spec.owner, std::string(status.message())));
    }
  }
  size_t idx = specs_.size();
  for (const std::string& name : names) index_.emplace(name, idx);
  specs_.push_back(std::move(spec));
  return absl::OkStatus();
}

const OptionSpec* OptionRegistry::Find(std::string_view name_or_alias) const {
  auto it = index_.find(name_or_alias);
  return it == index_.end() ? nullptr : &specs_[it->second];
}

std::string OptionRegistry::Suggest(std::string_view unknown) const {
  std::vector<std::string_view> names;
  names.reserve(index_.size());
  for (const auto& [name, idx] : index_) names.push_back(name);
  return base::Suggest(unknown, names);
}

std::vector<const OptionSpec*> OptionRegistry::All() const {
  std::vector<const OptionSpec*> all;
  all.reserve(specs_.size());
  for (const OptionSpec& spec : specs_) all.push_back(&spec);
  std::sort(all.begin(), all.end(),
            [](const OptionSpec* a, const OptionSpec* b) { return ListedBefore(*a, *b); });
  return all;
}

std::vector<std::string> OptionRegistry::Owners() const {
  std::vector<std::string> owners;
  for (const OptionSpec* spec : All()) {
    if (owners.empty() || owners.back() != spec->owner) owners.push_back(spec->owner);
  }
  return owners;
}

}  // namespace kiln::config
