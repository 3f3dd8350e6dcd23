// Closest-name suggestions for unknown options and plugins ("did you mean `vacuum`?").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::base {

// Damerau-Levenshtein (optimal string alignment) distance: a swap of two neighbours costs 1,
// so `vaccum` -> `vacuum` is 1.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `name`, or "" when none is close enough to be a plausible typo
// (distance at most a third of the longer name), or a candidate that
// starts with `name` / that `name` starts with (`chmod-sock` -> `chmod-socket`).
std::string Suggest(std::string_view name, const std::vector<std::string_view>& candidates);

}  // namespace kiln::base
