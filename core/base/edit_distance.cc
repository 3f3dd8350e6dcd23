#include "core/base/edit_distance.h"

#include <algorithm>
#include <limits>

namespace kiln::base {

size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  // Three rolling rows: two back for the transposition case.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string Suggest(std::string_view name, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_score = std::numeric_limits<size_t>::max();
  for (std::string_view c : candidates) {
    size_t d = EditDistance(name, c);
    size_t longer = std::max(name.size(), c.size());
    bool close = d * 3 <= longer;
    bool prefix = name.size() >= 4 && (c.starts_with(name) || name.starts_with(c)) && c.size() >= 4;
    if (!close && !prefix) continue;
    // Prefer real edit-distance matches; a prefix match ranks after any close one.
    size_t score = close ? d : 4 + (longer - std::min(name.size(), c.size()));
    if (score < best_score || (score == best_score && c < best)) {
      best_score = score;
      best = c;
    }
  }
  return std::string(best);
}

}  // namespace kiln::base
