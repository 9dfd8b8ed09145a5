"""The Hungarian assignment against brute force over every permutation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cvat_function.core.assignment import linear_assignment


def _brute(cost: np.ndarray) -> tuple[int, float]:
    """(most allowed pairs, least total cost among those) over all one-to-one assignments."""
    rows, cols = cost.shape
    if rows > cols:
        return _brute(cost.T)
    best = (-1, np.inf)
    for perm in itertools.permutations(range(cols), rows):
        pairs = [(i, perm[i]) for i in range(rows) if np.isfinite(cost[i, perm[i]])]
        score = (len(pairs), sum(cost[i, j] for i, j in pairs))
        if score[0] > best[0] or (score[0] == best[0] and score[1] < best[1] - 1e-9):
            best = score
    return best


costs = arrays(
    np.float64,
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    elements=st.one_of(st.integers(0, 20).map(float), st.just(np.inf)),
)


@settings(max_examples=300, deadline=None)
@given(costs)
def test_the_assignment_is_maximal_and_cheapest(cost: np.ndarray) -> None:
    pairs = linear_assignment(cost)
    assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
    assert all(np.isfinite(cost[r, c]) for r, c in pairs)
    count, total = _brute(cost)
    assert len(pairs) == count
    assert sum(cost[r, c] for r, c in pairs) == pytest.approx(total)


def test_empty_and_bad_inputs() -> None:
    assert linear_assignment(np.zeros((0, 3))) == []
    with pytest.raises(ValueError, match="NaN"):
        linear_assignment(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        linear_assignment(np.zeros(3))
