"""`python -m cvat_function invoke` and `bench`, run as a user runs them, on the fixture detector."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from cvat_function.tools.bench import format_bench, run_bench

from ..support import ASTRONAUT, FIXTURES, ROOT, Call

DETECTOR = str(FIXTURES / "detector")


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cvat_function", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_invoke_prints_exactly_what_the_handler_answers_and_draws_it(call: Call, astronaut_b64: str, tmp_path: Path):
    out = tmp_path / "drawn.png"
    done = cli("invoke", str(ASTRONAUT), "--function", DETECTOR, "--draw", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    expected = call({"image": astronaut_b64})
    assert done.stdout.strip() == expected.text
    drawn = cv2.imread(str(out))
    assert drawn.shape == (512, 512, 3)
    assert not (drawn == cv2.imread(str(ASTRONAUT))).all()  # something was drawn
    assert f"drew {len(expected.json())} shape(s)" in done.stderr


def test_invoke_sends_the_threshold_as_cvat_does(call: Call, astronaut_b64: str):
    done = cli("invoke", str(ASTRONAUT), "--function", DETECTOR, "--threshold", "0.6", "--quiet")
    assert done.returncode == 0
    fewer = json.loads(done.stdout)
    assert fewer == json.loads(call({"image": astronaut_b64, "threshold": 0.6}).text)
    assert 0 < len(fewer) < len(call({"image": astronaut_b64}).json())


def test_invoke_on_a_file_that_is_not_an_image_exits_non_zero_with_the_400(tmp_path: Path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    done = cli("invoke", str(junk), "--function", DETECTOR, "--quiet")
    assert done.returncode == 1
    assert json.loads(done.stdout)["field"] == "image"
    assert "HTTP 400" in done.stderr
    missing = cli("invoke", str(tmp_path / "nope.jpg"), "--function", DETECTOR, "--quiet")
    assert (missing.returncode, "is not a file" in missing.stderr) == (2, True)


@pytest.mark.slow
def test_bench_measures_every_figure_it_reports(monkeypatch: pytest.MonkeyPatch):
    # the cold start imports cvat_function in a fresh interpreter started in the function folder
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = run_bench(FIXTURES / "detector", repeats=2, cold_starts=1)
    assert set(result.stages_ms) == {"parse", "decode", "infer", "check+serialize"}
    assert all(value > 0 for value in result.stages_ms.values())
    assert 0 < result.overhead_ms < result.request_ms
    assert result.floor_ms > 0
    assert 0 < result.cold_start_s < result.cold_start_process_s
    report = format_bench(result)
    assert "overhead / floor" in report
    assert "cold start" in report
