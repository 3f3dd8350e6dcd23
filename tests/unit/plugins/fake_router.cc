// FakeRouter: kiln's Router driven by a fake host (see fake_router.h).
#include "tests/unit/plugins/fake_router.h"

#include <optional>

namespace kiln::testing {
namespace {

// The one plugin under test, as the Router knows plugins: by pointer identity only.
kiln::plugin::LoadedPlugin* const kPlugin =
    reinterpret_cast<kiln::plugin::LoadedPlugin*>(static_cast<uintptr_t>(0x1));

std::optional<std::string> Find(const std::vector<std::pair<std::string, std::string>>& vars,
                                const std::string& name) {
  std::optional<std::string> out;
  for (const auto& [k, v] : vars) {
    if (k == name) out = v;  // the last of duplicates wins, as in kiln
  }
  return out;
}

void SetVar(std::vector<std::pair<std::string, std::string>>* vars, const std::string& name,
            const std::string& value) {
  bool found = false;
  for (auto& [k, v] : *vars) {
    if (k == name) {
      v = value;
      found = true;
    }
  }
  if (!found) vars->emplace_back(name, value);
}

}  // namespace

kiln_status FakeRouter::Offer(const kiln_callbacks& cb, const std::vector<std::string>& mounts,
                              bool manage_script_name, std::string* error) {
  router_.Clear();
  router_.set_manage_script_name(manage_script_name);
  for (const std::string& value : mounts) {
    absl::StatusOr<kiln::plugin::MountEntry> m = kiln::plugin::ParseMountEntry(value);
    if (!m.ok()) {
      *error = std::string(m.status().message());
      return KILN_ERROR;
    }
    void* app = nullptr;
    kiln_status st = cb.on_mount_app(cb.ctx, kiln_str{m->point.data(), m->point.size()},
                                     kiln_str{m->target.data(), m->target.size()}, &app);
    if (st == KILN_DECLINED) continue;
    if (st != KILN_OK) return st;
    absl::Status added = router_.Add(*m, kPlugin, app);
    if (!added.ok()) {
      *error = std::string(added.message());
      return KILN_ERROR;
    }
  }
  return KILN_OK;
}

void* FakeRouter::Route(std::vector<std::pair<std::string, std::string>>* vars) const {
  std::optional<std::string> script = Find(*vars, "SCRIPT_NAME");
  std::string path = Find(*vars, "PATH_INFO").value_or("");
  kiln::plugin::Route route = router_.Resolve(script, path, kPlugin);
  if (route.split) {
    std::string new_script(route.script_name);
    std::string new_path(route.path_info);
    SetVar(vars, "SCRIPT_NAME", new_script);
    SetVar(vars, "PATH_INFO", new_path);
  }
  return route.app;
}

}  // namespace kiln::testing
