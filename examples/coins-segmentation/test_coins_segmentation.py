"""The coin segmentation detector through the Nuclio SDK path, as CVAT calls it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from cvat_function.core.masks import decode_detector_mask
from cvat_function.tools.wire import LocalFunction

HERE = Path(__file__).parent
COINS = HERE.parents[1] / "assets" / "coins.png"
WIDTH, HEIGHT = 384, 303


@pytest.fixture(scope="module")
def answer() -> list[dict]:
    body = {"image": base64.b64encode(COINS.read_bytes()).decode("ascii")}
    response = LocalFunction(HERE).request(json.dumps(body))
    assert response.status == 200
    assert response.content_type == "application/json"
    result: list[dict] = response.json()
    return result


def test_the_24_coins_are_found(answer: list[dict]) -> None:
    assert len(answer) == 24
    assert {(shape["label"], shape["type"]) for shape in answer} == {("coin", "mask")}


def test_every_mask_is_a_valid_box_bitmap_with_one_foreground_value(answer: list[dict]) -> None:
    for shape in answer:
        left, top, right, bottom = shape["mask"][-4:]
        assert 0 <= left <= right < WIDTH
        assert 0 <= top <= bottom < HEIGHT
        assert len(shape["mask"]) - 4 == (right - left + 1) * (bottom - top + 1)
        assert set(shape["mask"][:-4]) == {0, 1}


def test_masks_carry_a_polygon_inside_their_box(answer: list[dict]) -> None:
    for shape in answer:
        points = np.asarray(shape["points"]).reshape(-1, 2)
        left, top, right, bottom = shape["mask"][-4:]
        assert len(points) >= 3
        assert (points[:, 0] >= left).all()
        assert (points[:, 0] <= right).all()
        assert (points[:, 1] >= top).all()
        assert (points[:, 1] <= bottom).all()


def test_coins_do_not_overlap_and_have_coin_sizes(answer: list[dict]) -> None:
    frame = np.zeros((HEIGHT, WIDTH), dtype=np.int32)
    for shape in answer:
        coin = decode_detector_mask(shape["mask"]).full_frame(WIDTH, HEIGHT)
        assert 300 < coin.sum() < 4000
        frame += coin
    assert frame.max() == 1
