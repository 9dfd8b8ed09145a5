"""The face skeleton detector through the Nuclio SDK path, as CVAT calls it."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvat_function.core.config import load_function_config
from cvat_function.core.labels import spec_json
from cvat_function.tools.wire import LocalFunction

HERE = Path(__file__).parent
ASTRONAUT = HERE.parents[1] / "assets" / "astronaut.jpg"
FACE = (177, 67, 270, 160)  # where the astronaut's face is


@pytest.fixture(scope="module")
def function() -> LocalFunction:
    return LocalFunction(HERE)


def _request(function: LocalFunction, data: bytes, threshold: float | None = None) -> list[dict]:
    body: dict[str, object] = {"image": base64.b64encode(data).decode("ascii")}
    if threshold:
        body["threshold"] = threshold
    response = function.request(body)
    assert response.status == 200
    answer: list[dict] = response.json()
    return answer


def test_function_yaml_holds_the_spec_labels_py_generates() -> None:
    spec = importlib.util.spec_from_file_location("face_skeleton_labels", HERE / "labels.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = load_function_config(HERE / "function.yaml")
    assert tuple(config.labels) == tuple(module.LABELS)
    assert config.annotations["spec"].strip() == spec_json(module.LABELS)


def test_the_astronaut_gets_one_face_skeleton_with_every_part_found(function: LocalFunction) -> None:
    (face,) = _request(function, ASTRONAUT.read_bytes())
    assert (face["label"], face["type"]) == ("face", "skeleton")
    assert face["attributes"] == [{"name": "found_parts", "value": "3"}]
    parts = {e["label"]: e for e in face["elements"]}
    assert set(parts) == {"left_eye", "right_eye", "mouth"}
    for element in parts.values():
        x, y = element["points"]
        assert FACE[0] <= x <= FACE[2]
        assert FACE[1] <= y <= FACE[3]
        assert element["outside"] is False
        assert element["attributes"] == [{"name": "estimated", "value": "false"}]
    assert parts["left_eye"]["points"][0] > parts["right_eye"]["points"][0]  # the subject's left is on the right
    assert parts["mouth"]["points"][1] > max(parts["left_eye"]["points"][1], parts["right_eye"]["points"][1])


def test_parts_the_cascades_miss_are_estimated_and_marked(function: LocalFunction) -> None:
    image = cv2.imread(str(ASTRONAUT))
    x1, y1, x2, y2 = FACE
    image[y1 + 55 : y2, x1:x2] = cv2.GaussianBlur(image[y1 + 55 : y2, x1:x2], (31, 31), 0)  # blur the mouth away
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    answer = _request(function, jpeg.tobytes())
    if not answer:
        pytest.skip("the face cascade no longer finds the face once the mouth is blurred")
    (face,) = answer
    mouth = next(e for e in face["elements"] if e["label"] == "mouth")
    assert mouth["attributes"] == [{"name": "estimated", "value": "true"}]
    assert int(face["attributes"][0]["value"]) < 3


def test_a_frame_without_faces_answers_an_empty_list(function: LocalFunction) -> None:
    ok, png = cv2.imencode(".png", np.full((200, 300), 127, np.uint8))
    assert ok
    assert _request(function, png.tobytes()) == []


def test_a_high_threshold_drops_the_face(function: LocalFunction) -> None:
    assert _request(function, ASTRONAUT.read_bytes(), threshold=0.99) == []
