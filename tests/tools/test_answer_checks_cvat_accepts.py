"""The wire checks never refuse an answer CVAT accepts: `points` shapes of any number of points, also from trackers."""

from __future__ import annotations

import json

from cvat_function.core.labels import Labels, parse_labels
from cvat_function.tools.answer_checks import check_answer, detector_item_problems
from cvat_function.tools.http_answer import HttpAnswer

LABELS: Labels = parse_labels(json.dumps([{"id": 0, "name": "dots", "type": "points"}]))


def test_a_points_shape_may_have_any_even_number_of_coordinates() -> None:
    for count in (1, 2, 5):
        item = {"label": "dots", "type": "points", "points": [float(v) for v in range(2 * count)]}
        assert detector_item_problems(item, LABELS, (100, 100)) == []
    odd = {"label": "dots", "type": "points", "points": [1.0, 2.0, 3.0]}
    assert detector_item_problems(odd, LABELS, (100, 100))


def test_a_tracker_answering_points_shapes_passes() -> None:
    body = {"shapes": [{"type": "points", "points": [3, 4]}, {"type": "points", "points": [1, 2, 3, 4, 5, 6]}]}
    body["states"] = [{}, {}]
    request = {"shapes": [None, None]}
    answer = HttpAnswer(200, "application/json", json.dumps(body).encode())
    verdict = check_answer("tracker", answer, request=request, image_size=(10, 10))
    assert verdict.problems == []
