"""The contract a detector model must keep, shared by the pytest contract suite and `validate`.

Both run the model on the same frames (the function's sample images and the generated ones below, which
probe sizes and contents models get wrong) at the same thresholds, and apply the same rules
(`core/rules.py`: `check_shapes`, `check_contract`, `subset_problem`), so `validate` passes exactly what the
contract suite passes.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = (0.2, 0.5, 0.9)
"""Low, CVAT's default, high: each answer is checked at its threshold, and the high one must be a subset."""


def generated_frames() -> list[tuple[str, np.ndarray]]:
    """(name, H×W×3 uint8 RGB frame): noise, flat black, a single white pixel, odd and extreme sizes."""
    rng = np.random.default_rng(1)
    return [
        ("noise 640x480", rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)),
        ("black 320x240", np.zeros((240, 320, 3), np.uint8)),
        ("white 1x1", np.full((1, 1, 3), 255, np.uint8)),
        ("odd 33x17", rng.integers(0, 256, (17, 33, 3), dtype=np.uint8)),
        ("wide 2000x50", rng.integers(0, 256, (50, 2000, 3), dtype=np.uint8)),
    ]
