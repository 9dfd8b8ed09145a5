"""Properties of the two writers: any mask survives COCO's RLE (read back with pycocotools) and CVAT XML's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from cvat_function.core.labels import Labels, label_spec
from cvat_function.core.masks import BoxMask
from cvat_function.tools.annotate_formats import coco_json, coco_rle, cvat_xml
from tests.tools.cvat_xml_reader import read_cvat_xml

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@st.composite
def placed_masks(draw: st.DrawFn) -> tuple[BoxMask, int, int]:
    bitmap = draw(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
    height, width = bitmap.shape
    left, top = draw(st.integers(0, 20)), draw(st.integers(0, 20))
    frame_width = left + width + draw(st.integers(0, 5))
    frame_height = top + height + draw(st.integers(0, 5))
    return BoxMask(bitmap, (left, top, left + width - 1, top + height - 1)), frame_width, frame_height


@settings(max_examples=150, deadline=None)
@given(placed_masks())
def test_coco_rle_decodes_with_pycocotools_to_the_same_pixels(case: tuple[BoxMask, int, int]) -> None:
    mask, width, height = case
    rle = coco_rle(mask.to_rle(), width, height)
    assert sum(rle["counts"]) == width * height
    decoded = coco_mask.decode(coco_mask.frPyObjects(rle, height, width)).astype(bool)
    assert np.array_equal(decoded, mask.full_frame(width, height))


@settings(max_examples=100, deadline=None)
@given(placed_masks())
def test_cvat_xml_mask_reads_back_to_the_same_box_and_pixels(case: tuple[BoxMask, int, int]) -> None:
    mask, width, height = case
    record = {"name": "f.png", "width": width, "height": height,
              "shapes": [{"label": "m", "type": "mask", "rle": mask.to_rle()}]}  # fmt: skip
    (shape,) = read_cvat_xml(cvat_xml([record], Labels((label_spec("m", 0, "mask"),))))["f.png"]["shapes"]
    assert shape["mask"] == mask


def test_coco_leaves_out_what_it_cannot_carry_and_counts_it() -> None:
    labels = Labels((label_spec("box", 0, "rectangle"), label_spec("line", 1, "polyline"), label_spec("t", 2, "tag")))
    record = {"name": "a.png", "width": 10, "height": 10, "shapes": [
        {"label": "box", "type": "rectangle", "points": [1, 1, 4, 5], "rotation": 30.0},
        {"label": "line", "type": "polyline", "points": [0, 0, 5, 5]},
        {"label": "t", "type": "tag"},
    ]}  # fmt: skip
    document, left_out = coco_json([record], labels)
    (box,) = document["annotations"]
    assert box["bbox"] == [1.0, 1.0, 3.0, 4.0]
    assert box["attributes"]["rotation"] == 30.0
    assert left_out == {"line: polyline": 1, "t: tag": 1}


def test_every_other_shape_type_reads_back_from_cvat_xml() -> None:
    from cvat_function.core.shapes import cuboid, ellipse, points, polyline, rectangle
    from cvat_function.tools.annotate import shape_record

    shapes = [
        rectangle("r", (10, 20, 50, 60), rotation=30.5),
        ellipse("e", (100, 80), (20, 10), rotation=12.0),
        cuboid("c", [(1, 2), (1, 9), (8, 2), (8, 9), (3, 1), (3, 8), (10, 1), (10, 8)]),
        polyline("l", [(0, 0), (5, 5), (9, 2)]),
        points("p", [(4, 4), (6, 7)]),
    ]
    labels = Labels(tuple(label_spec(s.label, i, s.type) for i, s in enumerate(shapes)))
    record = {"name": "f.png", "width": 200, "height": 200, "shapes": [shape_record(s) for s in shapes]}
    read = read_cvat_xml(cvat_xml([record], labels))["f.png"]["shapes"]
    assert [s["tag"] for s in read] == ["box", "ellipse", "cuboid", "polyline", "points"]
    for mine, theirs in zip(shapes, read, strict=True):
        assert theirs["points"] == pytest.approx(list(mine.points or ()), abs=0.005)
        assert theirs.get("rotation") == mine.rotation
