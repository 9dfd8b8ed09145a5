"""Agent-based (native) functions: the adapters driven by cvat-cli's own agent drivers, as `function run-agent`
runs them (the server's requests are dicts here; the worker process is replaced by a synchronous executor)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, ClassVar

import cvat_sdk.datasets as cvatds
import numpy as np
import pytest
from cvat_cli._internal import agent, agent_driver
from cvat_cli._internal.agent_driver_detection import AgentDetectionFunctionDriver
from cvat_cli._internal.agent_driver_interaction import AgentInteractionFunctionDriver
from cvat_cli._internal.agent_driver_tracking import AgentTrackingFunctionDriver
from cvat_sdk import masks as sdk_masks
from cvat_sdk.auto_annotation import InteractionFunctionSpec, TrackingFunctionSpec

from cvat_function.sdk.function import InvalidAnswerError, create
from tests.sdk.fakes import FIXTURES, TASK_LABELS, FakeClient, FakeTask, SyncExecutor, square_frame, task_labels

BOX = (40, 30, 90, 70)


def _driver(monkeypatch: pytest.MonkeyPatch, folder: str, frames: list[bytes], **params: Any) -> Any:
    function = create(function=str(FIXTURES / folder), **params)
    driver_class = agent.get_function_driver_class(function.spec)
    task = FakeTask(task_labels(TASK_LABELS), frames)
    monkeypatch.setattr(cvatds, "TaskDataset", task.dataset)
    agent_driver.set_worker_current_function(function)
    driver_class.init_worker(iter(f"state-{i}" for i in range(100)).__next__)
    return driver_class(FakeClient(), SyncExecutor(), function.spec)


def _check_in(*, current_progress: float) -> None:
    assert 0.0 <= current_progress <= 1.0


def test_each_kind_gets_its_cvat_sdk_spec_and_driver() -> None:
    kinds = {}
    for folder in ("detector", "interactor", "tracker"):
        spec = create(function=str(FIXTURES / folder)).spec
        kinds[folder] = agent.get_function_driver_class(spec).FUNCTION_KIND
    assert kinds == {"detector": "detector", "interactor": "interactor", "tracker": "tracker"}


def test_create_native_posts_the_yaml_labels() -> None:
    spec = create(function=str(FIXTURES / "detector")).spec
    fields = AgentDetectionFunctionDriver.get_remote_function_fields(spec)
    labels = {label["name"]: label for label in fields["labels_v2"]}
    assert labels["square"]["type"] == "rectangle"
    assert [a["name"] for a in labels["square"]["attributes"]] == ["colour", "size", "solid"]
    assert [s["name"] for s in labels["corners"]["sublabels"]] == ["tl", "br", "centre"]


def test_interactor_prompt_rules_come_from_function_yaml() -> None:
    spec = create(function=str(FIXTURES / "interactor")).spec
    assert spec == InteractionFunctionSpec(min_pos_points=1, min_neg_points=0, min_bounding_boxes=0)
    fields = AgentInteractionFunctionDriver.get_remote_function_fields(spec)
    assert fields == {"min_pos_points": 1, "min_neg_points": 0, "startswith_box_optional": True}


def test_agent_annotate_frame_maps_labels_by_the_servers_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _driver(monkeypatch, "detector", [square_frame(*BOX)])
    params = {"type": "annotate_frame", "task": 1, "frame": 0, "threshold": 0.5, "conv_mask_to_poly": False,
              "mapping": {"square": {"name": "square"}, "scene": {"name": "scene"}}}  # fmt: skip
    result = driver.calculate_result_for_ar(params, _check_in)["annotations"]
    assert [(s.label_id, s.points) for s in result.shapes] == [(101, [40.0, 30.0, 90.0, 70.0])]
    assert [t.label_id for t in result.tags] == [105]


def test_agent_interact_returns_the_models_mask_as_cvat_rle(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _driver(monkeypatch, "interactor", [square_frame(*BOX)])
    params = {"type": "interact", "task": 1, "frame": 0, "pos_points": [[60, 50]], "neg_points": [],
              "obj_bbox": [[35, 25], [95, 75]]}  # fmt: skip
    (shape,) = driver.calculate_result_for_ar(params, _check_in)["shapes"]
    assert shape["type"] == "mask"
    bitmap = sdk_masks.decode_mask(shape["points"], image_width=160, image_height=120)
    expected = np.zeros((120, 160), bool)
    expected[30:70, 40:90] = True
    assert np.array_equal(bitmap, expected)
    assert [(a.spec_id, a.value) for a in shape["attributes"]] == [(0, "0.75")]


def test_agent_interact_clips_the_prompts_as_the_nuclio_route_does(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = _driver(monkeypatch, "interactor", [square_frame(*BOX)])
    params = {"type": "interact", "task": 1, "frame": 0, "pos_points": [[159.6, 50]], "neg_points": [],
              "obj_bbox": []}  # fmt: skip
    driver.calculate_result_for_ar(params, _check_in)
    model = agent_driver.worker_current_function().function.model  # type: ignore[attr-defined]
    assert model.requests[-1].pos_points == ((159.0, 50.0),)


def test_agent_tracks_a_shape_across_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [square_frame(*BOX), square_frame(50, 35, 100, 75), square_frame(0, 0, 0, 0)]
    driver = _driver(monkeypatch, "tracker", frames)
    start = {"type": "init_tracking", "task": 1, "frame": 0, "shapes": [{"type": "rectangle", "points": list(BOX)}]}
    states = driver.calculate_result_for_ar(start, _check_in)["states"]
    moved = driver.calculate_result_for_ar({"type": "track", "task": 1, "frame": 1, "states": states}, _check_in)
    assert moved["shapes"] == [{"type": "rectangle", "points": [50.0, 35.0, 100.0, 75.0]}]
    lost = driver.calculate_result_for_ar({"type": "track", "task": 1, "frame": 2, "states": states}, _check_in)
    assert lost["shapes"] == [None]


def test_tracker_spec_lists_the_yamls_shape_types() -> None:
    spec = create(function=str(FIXTURES / "tracker")).spec
    assert spec == TrackingFunctionSpec(supported_shape_types={"rectangle", "polygon"})
    fields = AgentTrackingFunctionDriver.get_remote_function_fields(spec)
    assert fields == {"supported_shape_types": ["polygon", "rectangle"]}


def test_a_tracker_result_cvat_would_reject_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [square_frame(*BOX), square_frame(50, 35, 100, 75)]
    driver = _driver(monkeypatch, "tracker", frames, invalid_shapes="error")
    start = {"type": "init_tracking", "task": 1, "frame": 0,
             "shapes": [{"type": "polygon", "points": [40, 30, 90, 30, 90, 70, 40, 70]}]}  # fmt: skip
    states = driver.calculate_result_for_ar(start, _check_in)["states"]
    function = agent_driver.worker_current_function()
    model = function.function.model  # type: ignore[attr-defined]
    monkeypatch.setattr(model, "track", lambda image, state: (_bad_polygon(), state))
    with pytest.raises(InvalidAnswerError, match="polygon needs"):
        driver.calculate_result_for_ar({"type": "track", "task": 1, "frame": 1, "states": states}, _check_in)


def _bad_polygon() -> Any:
    from cvat_function import tracked_shape

    return tracked_shape("polygon", [1.0, 2.0, 3.0, 4.0])


@pytest.mark.slow
def test_the_agents_own_worker_process_loads_and_runs_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """`function run-agent` loads the function in a spawned worker process: the module must import and run there."""
    from cvat_cli._internal.common import FunctionLoader

    loader = FunctionLoader("cvat_function.sdk.function", None, {"function": str(FIXTURES / "detector")})
    task = FakeTask(task_labels(TASK_LABELS), [square_frame(*BOX)])
    monkeypatch.setattr(cvatds, "TaskDataset", task.dataset)
    with agent.RecoverableExecutor(
        initializer=agent._worker_init, initargs=[loader, agent._default_tracking_state_id_generator]
    ) as executor:
        spec = executor.result(executor.submit(agent._worker_job_get_function_spec))
        assert [label.name for label in spec.labels][:2] == ["square", "blob"]
        driver = AgentDetectionFunctionDriver(FakeClient(), executor, spec)
        params = {"type": "annotate_frame", "task": 1, "frame": 0, "threshold": None, "conv_mask_to_poly": True,
                  "mapping": {"blob": {"name": "blob"}}}  # fmt: skip
        (blob,) = driver.calculate_result_for_ar(params, _check_in)["annotations"].shapes
    assert (blob.label_id, blob.type.value) == (102, "polygon")


class _FakeCvat(http.server.BaseHTTPRequestHandler):
    """Just enough of a CVAT server for `cvat-cli function create-native`: POST /api/functions."""

    posted: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/api/functions":
            self.send_error(404)
            return
        _FakeCvat.posted.append({"body": body, "auth": self.headers.get("Authorization")})
        self._json(201, {"id": 17, **body})

    def do_GET(self) -> None:
        self.send_error(404)  # /api/server/about: cvat-cli warns and carries on

    def _json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("folder", ["detector", "interactor", "tracker"])
def test_cvat_cli_create_native_posts_the_function(
    folder: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cvat_cli.__main__ import main as cvat_cli

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeCvat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", "token-from-the-environment")
    _FakeCvat.posted.clear()
    try:
        code = cvat_cli([
            "--server-host", f"http://127.0.0.1:{server.server_address[1]}", "function", "create-native", "Fixture",
            "--function-module", "cvat_function.sdk.function", "-p", f"function=str:{FIXTURES / folder}",
        ])  # fmt: skip
    finally:
        server.shutdown()
    assert code in (0, None)
    assert capsys.readouterr().out.strip() == "17"
    (posted,) = _FakeCvat.posted
    assert "token-from-the-environment" in (posted["auth"] or "")
    body = posted["body"]
    assert (body["provider"], body["name"], body["kind"]) == ("native", "Fixture", folder)
    if folder == "detector":
        assert [label["name"] for label in body["labels_v2"]] == [
            "square",
            "blob",
            "corners",
            "outline",
            "scene",
            "faint",
        ]
    elif folder == "interactor":
        assert (body["min_pos_points"], body["min_neg_points"], body["startswith_box_optional"]) == (1, 0, True)
    else:
        assert body["supported_shape_types"] == ["polygon", "rectangle"]


@pytest.mark.slow
def test_a_rejected_shape_reaches_the_agent_from_its_worker_process_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from cvat_cli._internal.common import FunctionLoader

    params = {"function": str(FIXTURES / "detector"), "invalid_shapes": "error", "FIXTURE_BAD": "1"}
    loader = FunctionLoader("cvat_function.sdk.function", None, params)
    task = FakeTask(task_labels(TASK_LABELS), [square_frame(*BOX)])
    monkeypatch.setattr(cvatds, "TaskDataset", task.dataset)
    with agent.RecoverableExecutor(
        initializer=agent._worker_init, initargs=[loader, agent._default_tracking_state_id_generator]
    ) as executor:
        spec = executor.result(executor.submit(agent._worker_job_get_function_spec))
        driver = AgentDetectionFunctionDriver(FakeClient(), executor, spec)
        params = {"type": "annotate_frame", "task": 1, "frame": 0, "threshold": None, "conv_mask_to_poly": False,
                  "mapping": {"square": {"name": "square"}}}  # fmt: skip
        with pytest.raises(InvalidAnswerError) as caught:
            driver.calculate_result_for_ar(params, _check_in)
    ((error),) = caught.value.errors
    assert (error.label, error.field) == ("square", "attributes.colour")
