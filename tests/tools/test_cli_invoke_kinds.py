"""`python -m cvat_function invoke` builds each kind's request as CVAT would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ASTRONAUT = "assets/astronaut.jpg"
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
    (interaction,) = _invoke(ASTRONAUT, "--function", "examples/grabcut-interactor", "--pos", "223,113",
                             "--box", FACE, "--draw", str(tmp_path / "i.png"))  # fmt: skip
    assert interaction["shapes"][0]["type"] == "mask"  # type: ignore[index]
    assert (tmp_path / "i.png").is_file()
    start, step = _invoke(ASTRONAUT, "--function", "examples/template-tracker", "--box", FACE, "--next", ASTRONAUT)
    assert start["shapes"][0]["points"] == [177, 67, 270, 160]  # type: ignore[index]
    assert step["shapes"][0]["points"] == pytest.approx([177, 67, 270, 160], abs=1)  # type: ignore[index]
    (matches,) = _invoke(ASTRONAUT, "--function", "examples/histogram-reid", "--image1", ASTRONAUT,
                         "--box", FACE, "--box", "10,10,60,60", "--box1", "12,12,62,62", "--box1", FACE)  # fmt: skip
    assert matches == [1, 0]
