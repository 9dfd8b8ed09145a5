"""The GPU image's onnxruntime check (cvat_function/onnx/gpu_check.py), on made-up environments and by path."""

from __future__ import annotations

import subprocess
import sys
from email.message import Message
from importlib import metadata
from pathlib import Path

import pytest

from cvat_function.onnx import gpu_check

SCRIPT = Path(gpu_check.__file__)


def env(**versions: str | None):
    return lambda name: versions.get(name.replace("-", "_"))


def cuda() -> list[str]:
    return ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_the_gpu_wheel_alone_with_cuda_passes() -> None:
    assert gpu_check.problems(env(onnxruntime_gpu="1.26.0"), cuda, lambda name: []) == []


def test_the_cpu_wheel_beside_the_gpu_one_fails_naming_who_pulled_it_in() -> None:
    found = gpu_check.problems(env(onnxruntime="1.23.2", onnxruntime_gpu="1.26.0"), cuda, lambda name: ["rembg 2.0.67"])
    assert len(found) == 1
    assert "onnxruntime 1.23.2 is installed (required by rembg 2.0.67) beside onnxruntime-gpu 1.26.0" in found[0]
    assert "grep -v '^onnxruntime'" in found[0]


def test_a_cpu_build_of_onnxruntime_fails_even_when_the_gpu_wheel_is_installed() -> None:
    found = gpu_check.problems(env(onnxruntime_gpu="1.26.0"), lambda: ["CPUExecutionProvider"], lambda name: [])
    assert found == [
        "onnxruntime lists ['CPUExecutionProvider'], without CUDAExecutionProvider: this is the CPU build; the "
        "function would run on the CPU"
    ]


def test_no_gpu_wheel_and_no_onnxruntime_at_all_fail() -> None:
    def missing() -> list[str]:
        raise ImportError("No module named 'onnxruntime'")

    found = gpu_check.problems(env(), missing, lambda name: [])
    assert [p.split(" ")[0] for p in found] == ["onnxruntime-gpu", "onnxruntime"]


class _Dist(metadata.Distribution):
    def __init__(self, name: str, version: str, requires: list[str]) -> None:
        self._name, self._version, self._requires = name, version, requires

    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            message = Message()
            message["Name"], message["Version"] = self._name, self._version
            for requirement in self._requires:
                message["Requires-Dist"] = requirement
            return message.as_string()
        return None

    def locate_file(self, path):  # pragma: no cover - never asked for files
        raise FileNotFoundError(path)


def test_dependents_are_the_distributions_that_require_the_cpu_wheel_outside_extras() -> None:
    distributions = [
        _Dist("rembg", "2.0.67", ["onnxruntime>=1.16", "numpy"]),
        _Dist("insight_tool", "0.1", ["ONNXRuntime; python_version >= '3.9'"]),
        _Dist("optional", "1.0", ["onnxruntime; extra == 'cpu'"]),
        _Dist("gpu-user", "1.0", ["onnxruntime-gpu"]),
    ]
    assert gpu_check.dependents("onnxruntime", distributions) == ["insight_tool 0.1", "rembg 2.0.67"]


def test_run_by_path_here_it_fails_because_this_is_the_cpu_onnxruntime() -> None:
    if gpu_check.installed("onnxruntime-gpu"):
        pytest.skip("this environment has onnxruntime-gpu")
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "gpu_check: error: the CPU distribution onnxruntime" in result.stderr
    assert "onnxruntime-gpu is not installed" in result.stderr


def test_the_runtime_subpackage_imports_neither_the_tools_nor_onnxruntime_until_a_model_loads() -> None:
    code = (
        "import sys, cvat_function.onnx; "
        "bad = sorted(m for m in sys.modules if m.startswith('cvat_function.tools') or m in ('onnxruntime', 'onnx')); "
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False, cwd=SCRIPT.parents[2]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
