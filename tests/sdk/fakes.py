"""A stand-in CVAT server for cvat-sdk's own drivers: a task's labels and frames, and what gets uploaded.

Only the transport is faked; the drivers (`cvat_sdk.auto_annotation.driver`, cvat-cli's agent drivers), their
label mapping and their validation are the real ones. Task labels are built from JSON by the SDK's own
deserializer, as it builds them from a server's answer.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cvat_sdk import models
from cvat_sdk.api_client import Configuration
from cvat_sdk.api_client.model_utils import validate_and_convert_types
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk"


def task_labels(data: list[dict[str, Any]]) -> list[models.Label]:
    """Task labels from the JSON a CVAT server answers (ids are the server's, not the function's)."""

    def complete(item: dict[str, Any], sub: bool = False) -> dict[str, Any]:
        # what a server always sends besides the names, types and attributes
        out = {"color": "#ff0000", "attributes": [], **item}
        out["has_parent"] = sub
        if not sub:
            out.setdefault("svg", "")
            out["sublabels"] = [complete(s, True) for s in item.get("sublabels", [])]
        return out

    return [
        validate_and_convert_types(complete(item), (models.Label,), ["labels"], True, True, Configuration())
        for item in data
    ]


def _attr(name: str, id: int, input_type: str, values: list[str]) -> dict[str, Any]:
    return {"name": name, "id": id, "input_type": input_type, "mutable": False, "values": values,
            "default_value": values[0] if values else "false"}  # fmt: skip


TASK_LABELS = [
    {"name": "square", "id": 101, "type": "rectangle", "attributes": [
        _attr("colour", 501, "select", ["grey", "white"]), _attr("size", 502, "number", ["0", "4000", "1"]),
        _attr("solid", 503, "checkbox", [])]},
    {"name": "blob", "id": 102, "type": "any", "attributes": []},
    {"name": "corners", "id": 103, "type": "skeleton", "attributes": [], "svg": "", "sublabels": [
        {"name": "tl", "id": 201, "type": "points", "attributes": []},
        {"name": "br", "id": 202, "type": "points", "attributes": []},
        {"name": "centre", "id": 203, "type": "points", "attributes": [_attr("visible", 504, "checkbox", [])]}]},
    {"name": "outline", "id": 104, "type": "polygon", "attributes": []},
    {"name": "scene", "id": 105, "type": "tag", "attributes": [_attr("brightness", 505, "radio", ["dark", "light"])]},
    {"name": "faint", "id": 106, "type": "rectangle", "attributes": []},
]  # fmt: skip
"""The task's labels as a server has them: the fixture detector's names, the server's own ids."""


def square_frame(x1: int, y1: int, x2: int, y2: int, size: tuple[int, int] = (160, 120), value: int = 255) -> bytes:
    """A PNG of a dark frame with a bright square (x2, y2 exclusive)."""
    frame = np.full((size[1], size[0], 3), 20, np.uint8)
    frame[y1:y2, x1:x2] = value
    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="PNG")
    return out.getvalue()


@dataclass
class _Media:
    data: bytes

    def load_image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data))


@dataclass
class _Sample:
    frame_index: int
    frame_name: str
    media: _Media


@dataclass
class FakeTask:
    labels: list[models.Label]
    frames: list[bytes]

    def dataset(self, *args: Any, **kwargs: Any) -> Any:
        samples = [_Sample(i, f"frame_{i:06d}.png", _Media(data)) for i, data in enumerate(self.frames)]
        task = self

        class Dataset:
            labels = task.labels

            def __init__(self) -> None:
                self.samples = samples

        return Dataset()


@dataclass
class FakeClient:
    """What the drivers use of `cvat_sdk.Client`: a logger and the annotation upload calls."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fake-cvat"))
    uploads: list[models.PatchedLabeledDataRequest] = field(default_factory=list)

    @property
    def tasks(self) -> Any:
        client = self

        class Api:
            def partial_update_annotations(self, action: str, task_id: int, **kwargs: Any) -> None:
                assert action == "create"
                client.uploads.append(kwargs["patched_labeled_data_request"])

            def update_annotations(self, task_id: int, **kwargs: Any) -> None:
                client.uploads.append(kwargs["labeled_data_request"])

        class Tasks:
            api = Api()

        return Tasks()


class SyncExecutor:
    """The agent's RecoverableExecutor without the worker process: the job runs at once, in this process."""

    def submit(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(func(*args, **kwargs))
        except Exception as e:
            future.set_exception(e)
        return future

    def result(self, future: concurrent.futures.Future[Any]) -> Any:
        return future.result()
