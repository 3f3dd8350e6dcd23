// Names of option kinds and states, as --help and docs/options.md print them.
#include "core/config/option.h"

namespace kiln::config {

const char* OptionKindName(OptionKind kind) {
  switch (kind) {
    case OptionKind::kFlag:
      return "flag";
    case OptionKind::kNumber:
      return "number";
    case OptionKind::kSize:
      return "size";
    case OptionKind::kDuration:
      return "duration";
    case OptionKind::kString:
      return "string";
    case OptionKind::kList:
      return "list";
  }
  return "?";
}

const char* OptionStateName(OptionState state) {
  switch (state) {
    case OptionState::kImplemented:
      return "implemented";
    case OptionState::kPlanned:
      return "planned";
    case OptionState::kAcceptedNoOp:
      return "accepted, no effect";
  }
  return "?";
}

bool ListedBefore(const OptionSpec& a, const OptionSpec& b) {
  const bool a_core = a.owner == "core", b_core = b.owner == "core";
  if (a_core != b_core) return a_core;
  if (a.owner != b.owner) return a.owner < b.owner;
  return a.name < b.name;
}

}  // namespace kiln::config
