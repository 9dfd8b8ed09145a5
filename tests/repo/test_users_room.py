"""The framework's tests never depend on the user's model: proved on copies of the repo.

Each case copies the tracked files to a temporary folder, changes what a user changes, and runs the framework
tests that touch function folders there, in one pytest subprocess:

* (a) another model: model_handler.py replaced by a tiny GRAY model emitting other labels and other shape types
  (polygon, polyline, tag), the labels written into function.yaml and copied to function-gpu.yaml with
  `python -m cvat_function sync-gpu`, as a user does;
* (b) the function renamed (metadata.name, both files);
* (c) examples/ deleted.

They must stay green in each case, and only test_model_handler.py (the user's own expectations) may fail: it
runs in (a), where it must fail, which shows the copy really runs the other model. The examples' contract
cases are left out in (a) and (b) (their folders are unchanged there; the main run covers them) to keep this
cheap.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ..support import ROOT

# The framework's tests that load, list, stage or lint function folders (the root's among them).
SUBSET = [
    "tests/tools/test_contract.py",
    "tests/core/test_runtime.py",
    "tests/core/test_config.py",
    "tests/core/test_request_matrix.py",
    "tests/core/test_kinds.py",
    "tests/tools/test_cli.py",
    "tests/tools/test_lint.py::test_the_repos_own_function_yamls_pass",
    "tests/scripts/test_deploy_script.py",
    "tests/repo/test_function_yamls.py",
    "tests/repo/test_template_markers.py",
]
USERS_FILE = "test_model_handler.py"

OTHER_MODEL = '''
    """Another model: a sky tag, a road line and a sign polygon, from grey levels alone."""

    from __future__ import annotations

    import numpy as np

    from cvat_function import Labels, Shape, polygon, polyline, tag


    class ModelHandler:
        color_order = "GRAY"
        labels = ("sky", "road", "sign")

        def __init__(self, labels: Labels) -> None:
            self.spec = labels

        def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
            height, width = image.shape[:2]
            level = float(image.mean()) / 255.0
            shapes = []
            if level >= threshold:
                shapes.append(tag("sky", confidence=level))
            if min(width, height) >= 4 and 1.0 - level >= threshold:
                line = [(0.0, height - 1.0), (width / 2, height / 2), (width - 1.0, height - 1.0)]
                shapes.append(polyline("road", line, confidence=1.0 - level))
            contrast = min(1.0, float(image.std()) / 64.0)
            if min(width, height) >= 4 and contrast >= threshold:
                cx, cy = width / 2, height / 2
                diamond = [(cx, cy - height / 4), (cx + width / 4, cy), (cx, cy + height / 4), (cx - width / 4, cy)]
                shapes.append(polygon("sign", diamond, confidence=contrast))
            return shapes
'''
OTHER_LABELS = """[
        { "id": 0, "name": "sky", "type": "tag" },
        { "id": 1, "name": "road", "type": "polyline" },
        { "id": 2, "name": "sign", "type": "polygon" }
      ]
"""


def copy_repo(destination: Path) -> Path:
    """The tracked files of this checkout (no venv, caches, weights or outputs)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def sync_gpu(repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cvat_function", "sync-gpu"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def another_model(repo: Path) -> None:
    (repo / "model_handler.py").write_text(textwrap.dedent(OTHER_MODEL).lstrip(), encoding="utf-8")
    cpu = repo / "function.yaml"
    text = cpu.read_text(encoding="utf-8")
    text, replaced = re.subn(
        r"(    spec: \|\n)      \[\n.*?\n      \]\n", rf"\g<1>      {OTHER_LABELS}", text, flags=re.S
    )
    assert replaced == 1, "the label block of function.yaml was not found"
    cpu.write_text(text, encoding="utf-8")
    sync_gpu(repo)


def renamed(repo: Path) -> None:
    cpu = repo / "function.yaml"
    text, replaced = re.subn(
        r"(?m)^(  name: )\S+", r"\g<1>my-renamed-function", cpu.read_text(encoding="utf-8"), count=1
    )
    assert replaced == 1
    cpu.write_text(text, encoding="utf-8")
    sync_gpu(repo)


def without_examples(repo: Path) -> None:
    shutil.rmtree(repo / "examples")


CASES = {"another model": another_model, "renamed": renamed, "no examples": without_examples}


def results(junit: Path) -> dict[str, str]:
    """node id → passed | failed | skipped, from pytest's JUnit XML."""
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        node = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        out[node] = outcome
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_framework_tests_hold_whatever_the_user_does_to_the_root(case: str, tmp_path: Path):
    repo = copy_repo(tmp_path / "repo")
    CASES[case](repo)
    examples = sorted(p.parent.name for p in repo.glob("examples/*/function.yaml"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVAT_FUNCTION_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)  # the copy's own cvat_function, through its pyproject's pythonpath
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
    command += ["--basetemp", str(tmp_path / "tmp"), "--junitxml", str(junit), *SUBSET]
    if case == "another model":  # elsewhere the root model is the default one, whose own tests the main run has
        command.append(USERS_FILE)
    if examples:  # their contract cases carry the folder name in their ids
        command += ["-k", " and ".join(f"not {name}" for name in examples)]
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=900, check=False)
    outcomes = results(junit)
    failed = sorted(node for node, outcome in outcomes.items() if outcome == "failed")
    framework_failures = [node for node in failed if not node.startswith(USERS_FILE.removesuffix(".py"))]
    assert not framework_failures, f"{case}: framework tests failed on the copy:\n{done.stdout[-6000:]}"
    root_contract = [n for n, o in outcomes.items() if "test_contract" in n and "root" in n and o == "passed"]
    assert len(root_contract) >= 5, f"{case}: the contract suite did not run on the root:\n{done.stdout[-3000:]}"
    assert sum(o == "passed" for o in outcomes.values()) >= 150
    if case == "another model":
        assert failed, "test_model_handler.py passed on another model: the copy did not run it"
    else:
        assert not failed, done.stdout[-3000:]
