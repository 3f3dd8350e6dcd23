// The lua plugin's apps and their handles: pure functions over strings.
#include "mounts.h"

#include <cstdint>

namespace kiln::lua {

bool IsLuaTarget(std::string_view target) {
  return target.size() > 4 && target.substr(target.size() - 4) == ".lua";
}

void* AppHandle(size_t index) { return reinterpret_cast<void*>(index + 1); }

std::optional<size_t> AppForHandle(const std::vector<AppSpec>& apps, void* handle) {
  if (handle != nullptr) {
    size_t index = reinterpret_cast<uintptr_t>(handle) - 1;
    if (index < apps.size()) {
      return index;
    }
    return std::nullopt;
  }
  for (size_t i = 0; i < apps.size(); ++i) {
    if (apps[i].mountpoint.empty()) {
      return i;
    }
  }
  return std::nullopt;
}

std::string DirName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return std::string(path.substr(0, slash));
}

}  // namespace kiln::lua
