#include "plan/coalition.h"

#include <algorithm>

#include "util/error.h"

namespace cascade {

std::vector<int> union_positions(const std::vector<std::vector<int>>& views,
                                 const std::vector<int>& parties) {
  std::vector<int> out;
  for (int p : parties) {
    check(p >= 0 && p < (int)views.size(), "union_positions: party index out of range");
    out.insert(out.end(), views[p].begin(), views[p].end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::vector<int>> coalitions(int n_parties, int k, size_t max_count) {
  std::vector<std::vector<int>> out;
  if (k <= 0 || k > n_parties) return out;
  std::vector<int> c(k);
  for (int i = 0; i < k; ++i) c[i] = i;
  while (true) {
    out.push_back(c);
    if (max_count && out.size() >= max_count) break;
    int i = k - 1;
    while (i >= 0 && c[i] == n_parties - k + i) --i;
    if (i < 0) break;
    ++c[i];
    for (int j = i + 1; j < k; ++j) c[j] = c[j - 1] + 1;
  }
  return out;
}

std::vector<std::vector<int>> coalition_views(const std::vector<std::vector<int>>& views, int k,
                                              size_t max_count) {
  std::vector<std::vector<int>> out;
  for (const auto& c : coalitions((int)views.size(), k, max_count)) out.push_back(union_positions(views, c));
  return out;
}

}  // namespace cascade
