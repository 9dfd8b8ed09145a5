"""What the template's default model (OpenCV face + person) must find: YOUR test file.

TODO(template): this is the one test file you replace. When you put your own model in model_handler.py,
write here what it must find on your images; the fixtures (`call`, `astronaut_b64`) come from conftest.py next
to it. Everything under tests/ is the framework's and never looks at your model: the contract suite
(tests/tools/test_contract.py) checks any model in this folder for valid CVAT answers, and the other framework
tests run on function folders of their own (tests/fixtures/). So with your model in place, only this file
can fail until you rewrite it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from model_handler import ModelHandler
from tests.core.test_request_matrix import FORMATS, shapes
from tests.support import ASTRONAUT, ASTRONAUT_FACE, Call, b64, encode, iou, silhouette


def labelled(answer: list[dict], label: str) -> list[list[float]]:
    return [shape["points"] for shape in answer if shape["label"] == label]


def test_the_sample_image_gives_exactly_this_json(call: Call, astronaut_b64: str):
    response = call({"image": astronaut_b64})
    assert response.status == 200
    assert response.content_type == "application/json"
    assert (
        response.body
        == b'[{"label":"face","type":"rectangle","points":[177.0,67.0,270.0,160.0],"confidence":"0.8908"}]'
    )


@pytest.mark.parametrize("data", [f[1] for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_the_face_is_found_in_every_format(call: Call, data: bytes):
    found = labelled(shapes(call({"image": b64(data)})), "face")
    assert len(found) == 1
    assert iou(found[0], ASTRONAUT_FACE) > 0.8


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_images_are_answered_in_displayed_coordinates(call: Call, orientation: int):
    """CVAT shows EXIF-rotated images turned upright; the box must land on the face as displayed."""
    stored = Image.open(ASTRONAUT)
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored.transpose(undo[orientation]), "JPEG", quality=95, exif=exif.tobytes())
    found = labelled(shapes(call({"image": b64(data)})), "face")
    assert len(found) == 1
    assert iou(found[0], ASTRONAUT_FACE) > 0.8


def test_a_standing_person_is_found(call: Call):
    image = silhouette(200)[:, :, ::-1]  # drawn as BGR, sent as RGB
    found = labelled(shapes(call({"image": b64(encode(np.ascontiguousarray(image), "PNG"))})), "person")
    assert len(found) == 1
    x1, y1, x2, y2 = found[0]
    assert x1 < 150 < x2  # around the figure's centre line
    assert y1 < 70  # above the head
    assert y2 > 240  # below the feet


def test_a_large_frame_is_answered_in_its_own_pixel_coordinates(call: Call):
    """The model works at 960 px; boxes must be scaled back to the 1920-px frame."""
    big = Image.open(ASTRONAUT).resize((1536, 1536))
    found = labelled(shapes(call({"image": b64(encode(big, "JPEG", quality=95))})), "face")
    assert len(found) == 1
    assert iou(found[0], [v * 3 for v in ASTRONAUT_FACE]) > 0.7


@pytest.mark.parametrize("fill", [0, 128, 255])
def test_a_flat_image_has_no_detections(call: Call, fill: int):
    data = encode(np.full((480, 640, 3), fill, np.uint8), "PNG")
    assert shapes(call({"image": b64(data)})) == []


def test_confidence_is_the_documented_mapping_of_the_raw_margin():
    """confidence = 1 - exp(-margin / s): s = 3 for faces, 1.5 for people (model_handler.py docstring)."""
    from cvat_function import Labels
    from cvat_function.core.image import decode_image

    model = ModelHandler(Labels())
    for image in (decode_image(ASTRONAUT.read_bytes(), "BGR"), silhouette(200)):
        raw = {(label, tuple(box)): (margin, s) for label, box, margin, s in model._detect(image)}
        for shape in model.infer(image, threshold=0.0):
            x1, y1, x2, y2 = (round(v) for v in shape.points or ())
            margin, s = raw[(shape.label, (x1, y1, x2 - x1, y2 - y1))]
            assert s == {"face": 3.0, "person": 1.5}[shape.label]
            assert shape.confidence == pytest.approx(1 - math.exp(-max(margin, 0) / s))
        assert raw, "each image has at least one detection to check"
