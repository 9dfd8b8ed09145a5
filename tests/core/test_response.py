"""response.dumps: strict JSON, numpy-aware, with pre-encoded fragments spliced in."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvat_function.core.response import Fragment, bitmap_json, dumps

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


@given(
    bits=st.lists(st.lists(st.booleans(), min_size=0, max_size=6), min_size=1, max_size=5).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    ),
    suffix=st.lists(st.integers(min_value=0, max_value=10**6), max_size=4),
    label=st.text(max_size=5),
)
def test_a_bitmap_fragment_is_written_into_the_answer_as_its_json_value(bits, suffix, label):
    """`dumps` writes bitmap fragments straight into the answer's one buffer: the same JSON as plain lists."""
    bitmap = np.asarray(bits, dtype=bool)
    fragment = Fragment.of_bitmap(bitmap, suffix)
    plain = [int(v) for v in bitmap.ravel()] + suffix
    assert fragment.text == bitmap_json(bitmap, suffix)
    assert json.loads(fragment.text) == plain
    assert fragment.size == len(fragment.text)
    answer = [{"label": label, "mask": fragment}, {"mask": Fragment.of_bitmap(bitmap, ())}, "tail"]
    expected = [{"label": label, "mask": plain}, {"mask": plain[: bitmap.size]}, "tail"]
    assert json.loads(dumps(answer)) == expected
