"""scripts/smoke_test.py against `serve`, and the answer checks it relies on, per function kind."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cvat_function.core.labels import parse_labels
from cvat_function.core.runtime import DROPPED_HEADER
from cvat_function.tools.answer_checks import check_answer, synthetic_request
from cvat_function.tools.http_answer import HttpAnswer
from cvat_function.tools.serve_process import ServeProcess

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scripts" / "smoke_test.py"
SIZE = (8, 6)
JSON = {"Content-Type": "application/json"}


def smoke(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False
    )


@pytest.fixture(scope="module")
def root_function(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with ServeProcess(REPO, ["--only", str(REPO), "--workers", "1"], log_path=log) as serve:
        serve.wait_ready(60)
        yield serve


@pytest.mark.slow
def test_the_smoke_test_passes_against_the_served_root_function(root_function):
    result = smoke("--url", root_function.url(), "--function", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "detector request: astronaut.jpg 512x512" in result.stdout
    assert "ok   a JSON list" in result.stdout
    assert "each valid for the spec" in result.stdout
    assert "latency: " in result.stdout
    assert result.stdout.rstrip().endswith("PASS")


@pytest.mark.slow
def test_the_smoke_test_goes_through_the_dashboard_like_cvat(root_function):
    result = smoke("--url", root_function.dashboard_url, "--dashboard", "--image", str(REPO / "assets" / "coins.png"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "listed in project cvat" in result.stdout
    assert "ok   spec.description" in result.stdout


@pytest.mark.slow
def test_the_smoke_test_fails_clearly(root_function):
    slow = smoke("--url", root_function.url(), "--max-latency", "0.000001")
    assert slow.returncode == 1
    assert "exceeds --max-latency" in slow.stdout
    wrong_kind = smoke("--url", root_function.url(), "--kind", "reid")
    assert wrong_kind.returncode == 1
    assert "FAIL HTTP 400" in wrong_kind.stdout
    nothing = smoke("--url", "http://127.0.0.1:9/", "--timeout", "5")
    assert nothing.returncode == 1
    assert "could not reach" in nothing.stderr


INTERACTOR_MAIN = textwrap.dedent(
    """
    import json

    def handler(context, event):
        # a 2x2 foreground square at (1, 1) in an 8x6 box: RLE starts with background
        answer = {"shapes": [{"type": "mask", "points": [9, 2, 6, 2, 29, 0, 0, 7, 5], "attributes": []}]}
        return context.Response(body=json.dumps(answer), content_type="application/json", status_code=200)
    """
)
INTERACTOR_YAML = """\
metadata:
  name: tiny-interactor
  annotations:
    type: "interactor"
    version: "2"
    spec: ""
spec:
  description: "tiny interactor"
  runtime: "python:3.12"
  handler: main:handler
"""


@pytest.mark.slow
def test_the_smoke_test_reads_the_kind_from_function_yaml(tmp_path):
    folder = tmp_path / "examples" / "tiny"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(INTERACTOR_MAIN)
    (folder / "function.yaml").write_text(INTERACTOR_YAML)
    image = tmp_path / "frame.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((6, 8, 3), np.uint8))
    with ServeProcess(tmp_path, log_path=tmp_path / "serve.log") as serve:
        serve.wait_ready(30)
        result = smoke("--url", serve.url(), "--function", str(folder), "--image", str(image))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "interactor request" in result.stdout
    assert "CVAT RLE whose counts sum to the box area" in result.stdout


# -- the checks, per kind ------------------------------------------------------------------------------------
AGE = {"name": "age", "input_type": "number", "values": ["0", "150", "1"]}
LABELS = parse_labels(
    json.dumps(
        [
            {"name": "car", "type": "rectangle"},
            {"name": "blob", "type": "mask"},
            {"name": "face", "type": "rectangle", "attributes": [AGE]},
            {"name": "sunny", "type": "tag"},
        ]
    )
)
FACE = {"label": "face", "type": "rectangle", "points": [1, 1, 2, 2]}


def check(kind, payload, *, headers=None, status=200, labels=LABELS):
    request = synthetic_request(kind, b"\x89PNG fake", SIZE)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {**JSON, **(headers or {})}
    answer = HttpAnswer(status, all_headers.pop("Content-Type"), body, all_headers)
    return check_answer(kind, answer, request=request, image_size=SIZE, labels=labels)


def test_synthetic_requests_follow_cvat_per_kind():
    image = b"abc"
    assert synthetic_request("detector", image, SIZE) == {"image": base64.b64encode(image).decode()}
    assert synthetic_request("detector", image, SIZE, 0.3)["threshold"] == 0.3
    interactor = synthetic_request("interactor", image, SIZE)
    assert interactor["pos_points"] == [[4.0, 3.0]]
    assert interactor["neg_points"] == []
    tracker = synthetic_request("tracker", image, SIZE)
    assert len(tracker["shapes"]) == 1
    assert tracker["states"] == []
    reid = synthetic_request("reid", image, SIZE)
    assert {"image0", "image1", "boxes0", "boxes1", "threshold", "max_distance"} <= set(reid)
    with pytest.raises(ValueError, match="unknown function kind"):
        synthetic_request("classifier", image, SIZE)


def test_a_valid_detector_answer_passes():
    answer = [
        {"label": "car", "type": "rectangle", "points": [1, 1, 4, 4], "confidence": "0.9"},
        {"label": "blob", "type": "mask", "mask": [0, 1, 1, 0, 1, 1, 2, 2]},
        {**FACE, "attributes": [{"name": "age", "value": "34"}]},
        {"label": "sunny", "type": "TAG"},
    ]
    verdict = check("detector", answer)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"label": "dog", "type": "rectangle", "points": [1, 1, 2, 2]}, "is not in the spec"),
        ({"label": "car", "type": "polygon", "points": [1, 1, 2, 2, 3, 1]}, "does not fit a label of type"),
        ({"label": "car", "type": "rectangle", "points": [1, 1, 2]}, "needs exactly 4 coordinates"),
        ({"label": "car", "type": "rectangle", "points": [1, 1, 2, "3"]}, "finite numbers"),
        ({"label": "car", "type": "rectangle", "points": [1, 1, 2, 3], "rotation": 400}, "rotation"),
        ({"label": "blob", "type": "mask", "mask": [0, 1, 1, 1, 2, 2]}, "the inclusive box holds 4"),
        ({"label": "blob", "type": "mask", "mask": [0, 1, 255, 0, 1, 1, 2, 2]}, "mixes foreground values"),
        ({"label": "blob", "type": "mask", "mask": [1, 8, 0, 8, 0]}, "leaves the 8x6 image"),
        ({"label": "car", "type": "rectangle", "points": [1, 1, 10, 2]}, "outside the 8x6 frame"),
        ({"label": "car", "type": "rectangle", "points": [1, 1, 2, 2], "confidence": "high"}, "confidence"),
        ({"label": "car", "type": "rectangle", "points": [1, 1, 2, 2], "attributes": {}}, "attributes: must be a list"),
        ({**FACE, "attributes": [{"name": "age", "value": "34.0"}]}, "integer string"),
        ({"label": "car"}, "needs string 'label' and 'type'"),
    ],
)  # fmt: skip
def test_invalid_detector_items_are_named(item, message):
    verdict = check("detector", [item])
    assert not verdict.ok
    assert message in " ".join(verdict.problems)


def test_detector_answer_must_be_a_json_list_with_json_content_type():
    assert "answers a JSON list" in check("detector", {"shapes": []}).problems[0]
    assert "not JSON" in check("detector", b"[{'label': 'car'}]").problems[0]
    text = check("detector", [], headers={"Content-Type": "text/plain"})
    assert "Content-Type is 'text/plain'" in text.problems[0]
    assert "HTTP 500" in check("detector", [], status=500).problems[0]


def test_dropped_shapes_header_fails_the_check():
    verdict = check("detector", [], headers={DROPPED_HEADER: "2"})
    assert not verdict.ok
    assert "dropped shapes CVAT would reject" in verdict.problems[0]


def test_interactor_answers():
    def shape(points, **more):
        return {"shapes": [{"type": "mask", "points": points, "attributes": [], **more}]}

    assert check("interactor", shape([0, 48, 0, 0, 7, 5])).ok
    assert check("interactor", {"shapes": [{"points": [10, 38, 0, 0, 7, 5], "attributes": []}]}).ok  # type: mask
    confident = shape([0, 48, 0, 0, 7, 5], attributes=[{"spec_id": 0, "value": "0.87"}])
    assert check("interactor", confident).ok
    legacy = {"mask": [[0] * 8 for _ in range(6)]}
    assert check("interactor", legacy).ok
    assert "sum to 47" in check("interactor", shape([10, 37, 0, 0, 7, 5])).problems[0]
    assert "first RLE count" in check("interactor", shape([0, 0, 48, 0, 0, 7, 5])).problems[0]
    assert "non-mask" in " ".join(check("interactor", shape([48, 0, 0, 7, 5], type="polygon")).problems)
    assert "leaves the 8x6 frame" in check("interactor", shape([48, 0, 0, 8, 5])).problems[0]
    assert "attributes.find" in check("interactor", {"shapes": [{"points": [0, 48, 0, 0, 7, 5]}]}).problems[0]
    assert "6 rows of 8" in check("interactor", {"mask": [[0, 1]]}).problems[0]
    assert "6 rows of 8" in check("interactor", {"mask": [[[0]] * 8] * 6}).problems[0]
    assert "both 'shapes' and 'mask'" in check("interactor", {"shapes": [], "mask": []}).problems[0]
    assert "Cannot" not in check("interactor", [1, 2]).problems[0]
    assert not check("interactor", [1, 2]).ok


def test_tracker_answers():
    assert check("tracker", {"shapes": [[1, 1, 4, 4]], "states": [{"t": 1}]}).ok
    assert check("tracker", {"shapes": [{"type": "rectangle", "points": [1, 1, 4, 4]}], "states": [None]}).ok
    assert "CVAT fails without 'states'" in check("tracker", {"shapes": [[1, 1, 4, 4]]}).problems[0]
    assert "one each, in order" in check("tracker", {"shapes": [], "states": []}).problems[0]
    assert "must be [x1, y1, x2, y2]" in check("tracker", {"shapes": [None], "states": [{}]}).problems[0]


def test_reid_answers():
    assert check("reid", [1, -1]).ok
    assert check("reid", [-1, -1]).ok
    assert "len(boxes0) = 2" in check("reid", [0]).problems[0]
    assert "in [0, 2)" in check("reid", [2, -1]).problems[0]
    assert "duplicate matches" in check("reid", [0, 0]).problems[0]
    assert not check("reid", [True, -1]).ok


def test_the_script_is_a_thin_wrapper_over_tools_smoke(capsys):
    from cvat_function.tools import smoke as module

    assert "from cvat_function.tools.smoke import main" in SMOKE.read_text()
    code = module.main(["--url", "http://127.0.0.1:9/", "--timeout", "2", "--function", str(REPO)], repo=REPO)
    assert code == 1
    out, err = capsys.readouterr()
    assert "detector request: astronaut.jpg 512x512" in out  # the default image, from the repo passed in
    assert "could not reach" in err
