"""The mask benchmark's case: ours and the reference produce the same JSON value, ours faster."""

from __future__ import annotations

import json

from cvat_function.tools.bench_masks import format_mask_bench, make_case, ours, reference, run_mask_bench


def test_our_mask_answer_is_the_reference_json_value() -> None:
    case = make_case(seed=1)[:5]
    assert json.loads(ours(case)) == json.loads(reference(case))


def test_the_bench_reports_a_speed_up_for_the_same_answer() -> None:
    result = run_mask_bench(repeats=1)
    assert result["instances"] == 20
    assert result["speedup"] > 2  # ≥ 10× on a quiet machine; kept loose so a busy CI runner does not flake
    assert "speed-up" in format_mask_bench(result)
