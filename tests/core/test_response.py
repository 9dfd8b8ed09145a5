"""response.dumps: strict JSON, numpy-aware, with pre-encoded fragments spliced in."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvat_function.core.response import Fragment, dumps

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_plain_values_encode_like_json_dumps(value: object) -> None:
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))


@given(json_values, json_values)
def test_fragments_are_spliced_verbatim(outer: object, inner: object) -> None:
    value = {"a": [outer, Fragment(json.dumps(inner))], "b": Fragment(json.dumps(inner))}
    assert json.loads(dumps(value)) == {"a": [outer, inner], "b": inner}


def test_a_string_that_looks_like_a_marker_is_left_alone() -> None:
    text = '"@@fragment-0000000000000000:0@@"'
    assert json.loads(dumps([text, Fragment("1")])) == [text, 1]


def test_numpy_scalars_and_arrays_become_json_numbers() -> None:
    value = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(3)}
    assert json.loads(dumps(value)) == {"i": 3, "f": 0.5, "b": True, "a": [0, 1, 2]}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("nan"), [np.float32("inf")]])
def test_nan_and_infinity_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        dumps({"points": bad})


def test_unknown_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"when": object()})
