"""The fuzz soak: its hostile cases, and a short run against `serve` over HTTP."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cvat_function.__main__ import main as cli
from cvat_function.tools import hostile
from cvat_function.tools.answer_checks import synthetic_request
from cvat_function.tools.fuzz import format_fuzz, run_fuzz

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("kind", ["detector", "interactor", "tracker", "reid"])
def test_every_kind_gets_each_hostile_class(kind: str) -> None:
    good = synthetic_request(kind, hostile.png(16, 12), (16, 12))
    rng = random.Random(0)
    cases = hostile.body_cases(kind, good, rng) + hostile.image_cases(kind, good, rng, 30)
    names = " | ".join(c.name for c in cases)
    for expected in ("nesting past the recursion limit", "5000-digit", "1e999", "signature + noise", "1x20000"):
        assert expected in names
    assert {c.expect for c in cases} <= {"ok", "4xx", "any"}
    for case in cases:
        assert isinstance(case.body, bytes)
        if case.expect == "ok":
            json.loads(case.body)  # the good ones are valid JSON


def test_forged_states_start_from_a_real_one() -> None:
    good = synthetic_request("tracker", hostile.png(16, 12), (16, 12))
    state = {"shape": {"type": "rectangle", "points": [1, 2, 3, 4]}, "state": {"box": [1, 2, 3, 4]}}
    cases = hostile.state_cases(good, state, random.Random(0), max_state_bytes=100)
    assert [c.expect for c in cases].count("ok") == 1
    assert any(b"NaN" in c.body for c in cases)
    oversized = next(c for c in cases if c.name == "an oversized state")
    assert len(oversized.body) > 100


def test_malformed_images_are_deterministic_per_seed() -> None:
    first = list(hostile.malformed_images(random.Random(4), 25))
    assert first == list(hostile.malformed_images(random.Random(4), 25))
    assert len({name.split()[0] for name, _ in first}) > 5  # many formats


def test_the_cli_refuses_nonsense_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["fuzz", "--requests", "0"]) == 2
    assert cli(["fuzz", "--good-share", "2"]) == 2
    assert "must be" in capsys.readouterr().err


@pytest.mark.slow
def test_a_short_fuzz_against_serve_finds_no_5xx_and_no_hang(tmp_path: Path) -> None:
    result = run_fuzz(
        [ROOT / "examples" / "histogram-reid"], requests=80, seconds=120, malformed=20, timeout=30,
        log_path=tmp_path / "serve.log",
    )  # fmt: skip
    report = format_fuzz(result)
    assert result["requests"] == 80, report
    assert (result["server_errors"], result["hangs"], result["leaks"], result["unexpected"]) == (0, 0, 0, 0), report
    assert {"200", "400"} <= set(result["statuses"]), report
    assert result["peak_rss_mb"] > 0
    assert result["processes"] >= 2  # the server and at least one worker
