"""The framework as a user gets it from a wheel: installed outside the checkout, run from another folder.

The wheel is built offline (`pip wheel --no-deps --no-build-isolation`, the backend from the dev
requirements) from a copy holding only what the wheel needs, installed with `pip install --target` into
tmp_path, and every command runs with that folder as the only place `cvat_function` can come from, on a
function folder of its own that has no main.py.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

FUNCTION_YAML = """\
metadata:
  name: installed-box
  namespace: cvat
  annotations:
    name: "Installed box"
    type: "detector"
    spec: |
      [{"id": 0, "name": "thing", "type": "rectangle"}]
spec:
  description: "one box in the middle of the frame"
  runtime: "python:3.12"
  handler: main:handler
  eventTimeout: 30s
  build:
    image: cvat.installed.box
    baseImage: python:3.12-slim-bookworm
  triggers:
    myHttpTrigger:
      kind: http
      numWorkers: 1
      workerAvailabilityTimeoutMilliseconds: 10000
      attributes:
        maxRequestBodySize: 33554432
  platform:
    attributes:
      restartPolicy:
        name: always
      mountMode: volume
"""

MODEL_HANDLER = """\
from cvat_function import rectangle


class ModelHandler:
    labels = ("thing",)

    def __init__(self, labels):
        self.spec = labels

    def infer(self, image, threshold):
        height, width = image.shape[:2]
        return [rectangle("thing", (width / 4, height / 4, width * 3 / 4, height * 3 / 4), confidence=0.9)]
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the package sources, installed into its own --target folder."""
    base = tmp_path_factory.mktemp("installed")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "cvat_function", source / "cvat_function", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "dist").glob("cvat_function-*.whl")
    target = base / "site"
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return target


def wheel_of(installed: Path) -> Path:
    (wheel,) = (installed.parent / "dist").glob("cvat_function-*.whl")
    return wheel


def environment(installed: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CVAT_FUNCTION_YAML")}
    env["PYTHONPATH"] = str(installed)
    env["PATH"] = f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A function folder with function.yaml and model_handler.py only, and a cwd that is not the checkout."""
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "function.yaml").write_text(FUNCTION_YAML)
    (folder / "model_handler.py").write_text(MODEL_HANDLER)
    image = np.zeros((90, 120, 3), np.uint8)
    cv2.rectangle(image, (10, 10), (60, 50), (0, 200, 255), -1)
    cv2.imwrite(str(tmp_path / "frame.png"), image)
    return tmp_path


def run(installed: Path, cwd: Path, *command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=cwd, env=environment(installed), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_the_wheel_holds_the_package_only_with_its_metadata(installed: Path) -> None:
    import cvat_function

    names = zipfile.ZipFile(wheel_of(installed)).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"cvat_function", f"cvat_function-{cvat_function.__version__}.dist-info"}
    assert {"cvat_function/py.typed", "cvat_function/image-files.txt", "cvat_function/core/runtime.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "examples/", "scripts/"))]
    metadata = zipfile.ZipFile(wheel_of(installed)).read(f"{sorted(tops)[1]}/METADATA").decode()
    assert "Name: cvat-function" in metadata
    assert "Requires-Dist: opencv-python-headless<5,>=4.10" in metadata
    assert 'Requires-Dist: nuclio-sdk>=0.5; extra == "dev"' in metadata
    entry_points = zipfile.ZipFile(wheel_of(installed)).read(f"{sorted(tops)[1]}/entry_points.txt").decode()
    assert "cvat-function = cvat_function.__main__:main" in entry_points


@pytest.mark.slow
def test_the_installed_cli_runs_from_another_folder(installed: Path, elsewhere: Path) -> None:
    where = run(installed, elsewhere, sys.executable, "-c", "import cvat_function; print(cvat_function.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed)  # not the checkout's copy
    for command in (
        [sys.executable, "-m", "cvat_function", "--help"],
        [str(installed / "bin" / "cvat-function"), "--help"],
    ):
        helped = run(installed, elsewhere, *command)
        assert helped.returncode == 0, helped.stderr
        assert "validate" in helped.stdout
        assert "invoke" in helped.stdout


@pytest.mark.slow
def test_validate_and_invoke_work_on_a_folder_without_main_py(installed: Path, elsewhere: Path) -> None:
    checked = run(installed, elsewhere, "cvat-function", "validate", "fn")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "fn: ok (0 error(s), 0 warning(s))" in checked.stdout
    assert "request with generated-640x480.jpg at thresholds" in checked.stdout  # no assets/ here: a generated frame
    answered = run(installed, elsewhere, "cvat-function", "invoke", "frame.png", "--function", "fn", "--quiet")
    assert answered.returncode == 0, answered.stderr
    (shape,) = json.loads(answered.stdout)
    assert (shape["label"], shape["type"], shape["points"]) == ("thing", "rectangle", [30.0, 22.5, 90.0, 67.5])
    assert not (elsewhere / "fn" / "main.py").exists()


@pytest.mark.slow
def test_serve_workers_import_the_installed_framework(installed: Path, elsewhere: Path) -> None:
    """serve's workers get the installed package on PYTHONPATH, not the checkout's."""
    body = json.dumps({"image": base64.b64encode((elsewhere / "frame.png").read_bytes()).decode()})
    script = textwrap.dedent(
        f"""
        import json, urllib.request
        from cvat_function.tools.serve_process import ServeProcess
        with ServeProcess("fn", ["--only", "fn", "--quiet"]) as serve:
            serve.wait_ready(60)
            request = urllib.request.Request(serve.url(), data={body!r}.encode(), method="POST",
                                             headers={{"Content-Type": "application/json"}})
            with urllib.request.urlopen(request, timeout=30) as answer:
                print(answer.status, answer.read().decode())
        """
    )
    served = run(installed, elsewhere, sys.executable, "-c", script, timeout=180)
    assert served.returncode == 0, served.stderr
    status, _, answer = served.stdout.strip().partition(" ")
    assert status == "200"
    assert [s["label"] for s in json.loads(answer)] == ["thing"]
