"""`python -m cvat_function invoke` builds each kind's request as CVAT would (on the fixture functions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..support import ASTRONAUT as ASTRONAUT_PATH
from ..support import FIXTURES, ROOT

ASTRONAUT = str(ASTRONAUT_PATH)
FACE = "177,67,270,160"


def _invoke(*args: str) -> list[object]:
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "invoke", *args, "--quiet"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.slow
def test_invoke_runs_an_interactor_tracker_and_reid_function(tmp_path: Path) -> None:
    (interaction,) = _invoke(ASTRONAUT, "--function", str(FIXTURES / "interactor"), "--pos", "223,113",
                             "--box", FACE, "--draw", str(tmp_path / "i.png"))  # fmt: skip
    (mask,) = interaction["shapes"]  # type: ignore[index]
    assert mask["type"] == "mask"
    assert mask["points"][-4:] == [177, 67, 270, 160]  # the fixture answers the box it was sent
    assert (tmp_path / "i.png").is_file()
    start, step = _invoke(ASTRONAUT, "--function", str(FIXTURES / "tracker"), "--box", FACE, "--next", ASTRONAUT)
    assert start["shapes"][0]["points"] == [177, 67, 270, 160]  # type: ignore[index]
    assert step["shapes"][0]["points"] == [177, 67, 270, 160]  # type: ignore[index]
    assert step["states"][0]["state"]["frames"] == 1  # type: ignore[index]  # the state came back and moved on
    (matches,) = _invoke(ASTRONAUT, "--function", str(FIXTURES / "reid"), "--image1", ASTRONAUT,
                         "--box", FACE, "--box", "10,10,60,60", "--box1", "12,12,62,62", "--box1", FACE)  # fmt: skip
    assert matches == [1, 0]
