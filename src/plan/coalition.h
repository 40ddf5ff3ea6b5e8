// Coalitions (threat model §5): k colluding nodes pool their views.
#pragma once

#include <cstddef>
#include <vector>

namespace cascade {

// Sorted, de-duplicated union of the position sets of views[p] for p in parties.
std::vector<int> union_positions(const std::vector<std::vector<int>>& views,
                                 const std::vector<int>& parties);

// The k-subsets of {0..n_parties−1} in lexicographic order, at most max_count
// of them (0 = all).
std::vector<std::vector<int>> coalitions(int n_parties, int k, size_t max_count = 0);

// For each coalition, the union of its members' views.
std::vector<std::vector<int>> coalition_views(const std::vector<std::vector<int>>& views, int k,
                                              size_t max_count = 0);

}  // namespace cascade
