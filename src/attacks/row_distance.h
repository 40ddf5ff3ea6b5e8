// Distances between hidden-state rows, as the attacks compare them.
#pragma once

#include <vector>

namespace cascade::attacks {

// Σ |a_j − b_j| over d coordinates.
float l1_distance(const float* a, const float* b, int d);

// 1 − cos(a, b); 1 for a zero vector.
float cosine_distance(const float* a, const float* b, int d);

// Each of the n rows [n][d] with its coordinates sorted ascending, in place.
// A permutation of a row's hidden dimensions leaves its sorted vector
// unchanged, so L1 between sorted rows is the dimension-shuffle-proof metric.
void sort_each_row(float* rows, int n, int d);

}  // namespace cascade::attacks
