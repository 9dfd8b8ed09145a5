"""CVAT's mask encodings, checked against cvat_sdk.masks as the oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cvat_sdk.masks import decode_mask, encode_mask
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cvat_function.core.masks import (
    BoxMask,
    contour_polygon,
    decode_detector_mask,
    decode_rle,
    encode_rle,
    from_frame,
    tight_box,
)
from cvat_function.core.response import bitmap_json, dumps, rows_json
from cvat_function.core.shapes import interactor_mask, mask

bitmaps = arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12)))


def test_the_contract_examples_encode_exactly() -> None:
    box = np.array([[0, 1, 1], [1, 1, 0]], dtype=bool)
    assert BoxMask(box, (2, 1, 4, 2)).to_list() == [0, 1, 1, 1, 1, 0, 2, 1, 4, 2]
    assert encode_rle(box, (2, 1, 4, 2)) == [1, 4, 1, 2, 1, 4, 2]
    assert encode_rle(np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)) == [0, 2, 2, 2, 0, 0, 2, 1]


def test_cvats_own_unit_test_case_encodes_as_cvat_stores_it() -> None:
    bitmap = np.array([255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0], dtype=np.uint8).reshape(4, 3)
    assert encode_rle(bitmap != 0, (0, 0, 2, 3)) == [0, 2, 2, 2, 2, 2, 2, 0, 0, 2, 3]


@settings(max_examples=200, deadline=None)
@given(bitmap=bitmaps, left=st.integers(0, 5), top=st.integers(0, 5))
def test_rle_matches_cvat_sdk_and_round_trips(bitmap: np.ndarray, left: int, top: int) -> None:
    height, width = bitmap.shape
    frame = np.zeros((top + height + 2, left + width + 3), dtype=bool)
    frame[top : top + height, left : left + width] = bitmap
    box = (left, top, left + width - 1, top + height - 1)
    ours = encode_rle(bitmap, box)
    assert ours == encode_mask(frame, [left, top, left + width, top + height])  # the SDK's x2/y2 are exclusive
    assert sum(ours[:-4]) == width * height
    assert all(count > 0 for count in ours[1:-4])
    decoded = decode_rle(ours)
    assert decoded.box == box
    assert np.array_equal(decoded.bitmap, bitmap)
    assert np.array_equal(decoded.full_frame(frame.shape[1], frame.shape[0]), frame)
    assert np.array_equal(decode_mask(ours, image_width=frame.shape[1], image_height=frame.shape[0]), frame)


@settings(max_examples=100, deadline=None)
@given(bitmap=bitmaps)
def test_the_detector_bitmap_and_its_json_text_match_the_plain_list(bitmap: np.ndarray) -> None:
    box = (3, 4, 3 + bitmap.shape[1] - 1, 4 + bitmap.shape[0] - 1)
    plain = bitmap.astype(np.uint8).flat[:].tolist() + list(box)
    assert BoxMask(bitmap, box).to_list() == plain
    assert json.loads(bitmap_json(bitmap, box)) == plain
    assert json.loads(bitmap_json(bitmap)) == plain[:-4]
    assert json.loads(rows_json(bitmap)) == bitmap.astype(int).tolist()
    assert decode_detector_mask(plain) == BoxMask(bitmap, box)


def test_a_frame_mask_is_cut_to_its_tight_box() -> None:
    frame = np.zeros((20, 30), dtype=np.uint8)
    frame[5:9, 10:17] = 255
    cut = from_frame(frame)
    assert cut is not None
    assert cut.box == (10, 5, 16, 8)
    assert cut.bitmap.all()
    assert tight_box(np.zeros((4, 4), bool)) is None
    assert from_frame(np.zeros((4, 4), bool)) is None


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ([3, 0, 0, 1, 1], "sum to 3"),
        ([1, 0, 2, 0, 0, 1, 1], "only the first"),
        ([-1, 5, 0, 0, 1, 1], ">= 0"),
        ([4, 2, 0, 1, 1], "left <= right"),
        ([4], "at least one count"),
    ],
)
def test_a_bad_rle_is_refused(encoded: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_rle(encoded)


def test_mask_builder_takes_full_frame_box_and_box_sized_bitmaps() -> None:
    frame = np.zeros((40, 50), dtype=bool)
    frame[10:20, 5:25] = True
    tight = mask("car", frame, polygon=False)
    boxed = mask("car", frame, box=(0, 0, 29, 29), polygon=False)
    local = mask("car", np.ones((10, 20), np.uint8), origin=(5, 10), polygon=False)
    assert tight.mask == local.mask
    assert isinstance(boxed.mask, BoxMask)
    assert boxed.mask.box == (0, 0, 29, 29)
    assert tight.to_cvat()["mask"][-4:] == [5, 10, 24, 19]
    assert "points" not in tight.to_cvat()


def test_mask_builder_adds_the_largest_components_contour_as_polygon() -> None:
    frame = np.zeros((40, 50), dtype=bool)
    frame[10:20, 5:25] = True
    frame[30:32, 40:42] = True  # a smaller component
    shape = mask("car", frame)
    points = np.asarray(shape.points).reshape(-1, 2)
    assert points.min(axis=0).tolist() == [5, 10]
    assert points.max(axis=0).tolist() == [24, 19]


def test_a_tiny_mask_gets_no_polygon_but_stays_a_mask() -> None:
    frame = np.zeros((10, 10), dtype=bool)
    frame[3, 3:5] = True  # two pixels: the contour has 2 points
    shape = mask("car", frame)
    assert shape.points is None
    assert contour_polygon(BoxMask(np.ones((1, 1), bool), (0, 0, 0, 0))) is None


@pytest.mark.parametrize(
    ("bitmap", "kwargs", "error", "message"),
    [
        (np.zeros((5, 5), bool), {}, ValueError, "no foreground"),
        (np.full((5, 5), 0.7), {}, TypeError, "threshold probabilities"),
        (np.ones((5,), bool), {}, ValueError, "2-D"),
        (np.ones((5, 5), bool), {"box": (0, 0, 5, 4)}, ValueError, "leaves the 5x5 frame"),
        (np.ones((5, 5), bool), {"box": (0, 0, 4, 4), "origin": (0, 0)}, ValueError, "not both"),
    ],
)
def test_mask_builder_refuses_what_cvat_would_misread(bitmap, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        mask("car", bitmap, **kwargs)


def test_pre_encoded_masks_serialize_to_the_same_json_value() -> None:
    frame = np.zeros((30, 40), dtype=bool)
    frame[3:17, 2:33] = np.random.default_rng(3).random((14, 31)) > 0.5
    shape = mask("car", frame, confidence=0.5)
    assert json.loads(dumps([shape.to_cvat(pre_encoded=True)])) == [shape.to_cvat()]


def test_interactor_masks_answer_rle_points_and_a_confidence_attribute() -> None:
    frame = np.zeros((10, 10), dtype=bool)
    frame[2:5, 3:7] = True
    answer = interactor_mask(frame, confidence=0.875).to_cvat()
    assert answer == {"type": "mask", "points": [0, 12, 3, 2, 6, 4], "attributes": [{"spec_id": 0, "value": "0.875"}]}
