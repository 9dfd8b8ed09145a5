"""The label spec of this function, written with the spec builders (no hand-written SVG).

function.yaml holds the JSON this produces (the runtime reads the labels from there); a test checks that the two
agree. After editing, print the JSON to paste under `metadata.annotations.spec: |`:

    python -m cvat_function labels --from-python examples/face-skeleton/labels.py:LABELS
"""

from __future__ import annotations

from cvat_function.core.labels import checkbox_attribute_spec, keypoint_spec, number_attribute_spec, skeleton_label_spec

# The labels; the keypoints of a skeleton are its sublabels.
LABELS = [
    skeleton_label_spec(
        "face",
        0,
        [
            keypoint_spec("left_eye", 1, [checkbox_attribute_spec("estimated")]),
            keypoint_spec("right_eye", 2, [checkbox_attribute_spec("estimated")]),
            keypoint_spec("mouth", 3, [checkbox_attribute_spec("estimated")]),
        ],
        edges=[("left_eye", "right_eye"), ("left_eye", "mouth"), ("right_eye", "mouth")],
        positions={"left_eye": (65, 35), "right_eye": (35, 35), "mouth": (50, 75)},
        attributes=[number_attribute_spec("found_parts", 0, 3, 1)],
    )
]
