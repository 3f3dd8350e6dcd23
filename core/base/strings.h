// Bridges between std::string_view and absl::string_view. Debian's Abseil is built with its
// own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so the two do not convert implicitly.
// kiln's APIs take std::string_view; wrap with Av() when calling absl::StrCat and friends
// (absl::StrFormat's %s accepts std::string_view directly).
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace kiln::base {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace kiln::base
