"""Optimal one-to-one assignment (the Hungarian method), for ReID and multi-object trackers.

scipy's `linear_sum_assignment` would do, but the function image should not need scipy for 40 lines. This is
the O(n²·m) shortest-augmenting-path form of the Hungarian algorithm (Kuhn–Munkres with potentials, as in
Jonker–Volgenant): one row is added at a time and the assignment is repaired along the cheapest alternating
path, with the inner minimum over columns vectorized in numpy. Forbidden pairs (`inf` cost) are never
assigned. Tested against brute force over all permutations (tests/test_assignment.py).
"""

from __future__ import annotations

import numpy as np


def linear_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs `(row, col)` of minimum total cost, each row and column used at most once.

    `cost` is an (n, m) array; `inf` marks a pair that must not be assigned. As many rows as possible are
    assigned (the pairs form a maximum matching of the allowed pairs), and among those the total is minimal.
    """
    matrix = np.asarray(cost, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"cost must be a 2-D array, got shape {matrix.shape}")
    if np.isnan(matrix).any() or np.isneginf(matrix).any():
        raise ValueError("cost must not hold NaN or -inf")
    rows, cols = matrix.shape
    if rows == 0 or cols == 0:
        return []
    transposed = rows > cols
    if transposed:
        matrix, rows, cols = matrix.T, cols, rows
    allowed = np.isfinite(matrix)
    finite = matrix[allowed]
    # Forbidden pairs get a cost above any sum of allowed ones: the optimum then avoids them whenever it can.
    big = (float(np.abs(finite).sum()) + 1.0) * (rows + 1) if finite.size else 1.0
    work = np.where(allowed, matrix, big)
    u = np.zeros(rows + 1)
    v = np.zeros(cols + 1)
    owner = np.zeros(cols + 1, dtype=np.int64)  # owner[j] = 1-based row assigned to column j (0 = free)
    way = np.zeros(cols + 1, dtype=np.int64)
    for row in range(1, rows + 1):
        owner[0] = row
        column = 0
        slack = np.full(cols + 1, np.inf)
        used = np.zeros(cols + 1, dtype=bool)
        while True:
            used[column] = True
            current = owner[column]
            reduced = work[current - 1] - u[current] - v[1:]
            free = ~used[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = column
            candidates = np.where(free, slack[1:], np.inf)
            nxt = int(np.argmin(candidates)) + 1
            delta = candidates[nxt - 1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[1:][free] -= delta
            column = nxt
            if owner[column] == 0:
                break
        while column:  # flip the alternating path back to the new row
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    pairs = [(int(owner[j]) - 1, j - 1) for j in range(1, cols + 1) if owner[j] and allowed[owner[j] - 1, j - 1]]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)
