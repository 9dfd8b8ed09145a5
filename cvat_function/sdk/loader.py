"""Load a function folder (model_handler.py + function.yaml) in this process, as `init_context` does.

The folder's `spec.env` becomes the environment the model loads in, as Nuclio sets it in a worker, except
where the real environment (or a `-p NAME=...` parameter) already says otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.config import load_function_config
from ..core.errors import SpecError
from ..core.runtime import ENV_INVALID_SHAPES, Function, load_function
from ..folders import exec_file, isolated_folder

LOG = logging.getLogger("cvat_function.sdk")


class LogAdapter:
    """Nuclio's structured logger calls (`error_with(message, **fields)`) on a standard `logging.Logger`."""

    def __init__(self, logger: logging.Logger = LOG) -> None:
        self.logger = logger

    def _log(self, level: int, message: str, fields: Mapping[str, Any]) -> None:
        if self.logger.isEnabledFor(level):
            extra = " ".join(f"{key}={value!r}" for key, value in fields.items())
            self.logger.log(level, "%s %s", message, extra)

    def debug_with(self, message: str, *args: Any, **kw_args: Any) -> None:
        self._log(logging.DEBUG, message, kw_args)

    def info_with(self, message: str, *args: Any, **kw_args: Any) -> None:
        self._log(logging.INFO, message, kw_args)

    def warn_with(self, message: str, *args: Any, **kw_args: Any) -> None:
        self._log(logging.WARNING, message, kw_args)

    def error_with(self, message: str, *args: Any, **kw_args: Any) -> None:
        self._log(logging.ERROR, message, kw_args)


def import_model_handler(folder: Path) -> Any:
    """`ModelHandler` from `<folder>/model_handler.py`, imported with the folder first on `sys.path` (as Nuclio
    runs it), so `from labels import …` in the user's file finds the folder's own modules."""
    path = folder / "model_handler.py"
    if not path.is_file():
        raise SpecError(str(folder), "has no model_handler.py", "pass the function folder: -p function=str:PATH")
    with isolated_folder(folder):
        module = exec_file("model_handler", path)
    factory = getattr(module, "ModelHandler", None)
    if factory is None:
        raise SpecError(str(path), "defines no ModelHandler class")
    return factory


def device_env(device: str) -> dict[str, str]:
    """`cpu` hides every GPU; `cuda`, `cuda:N` or `N` shows GPU N (CUDA_VISIBLE_DEVICES: read by onnxruntime,
    PyTorch and TensorFlow alike, so a model needs no device argument of its own)."""
    text = device.strip().lower()
    if text == "cpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    index = text.removeprefix("cuda").lstrip(":") or "0"
    if not index.isdigit():
        raise SpecError("device", f"is {device!r}", "use cpu, cuda, cuda:N or N")
    return {"CUDA_VISIBLE_DEVICES": index}


def load_folder(
    folder: str | Path = ".",
    *,
    env: Mapping[str, str] | None = None,
    invalid_shapes: str | None = None,
    device: str | None = None,
) -> Function:
    """The folder's function, loaded, label-checked and warmed up by `core.runtime.load_function`.

    Environment, lowest first: function.yaml `spec.env`, the process environment, `device`, `env`,
    `invalid_shapes` (`error` raises on a shape CVAT would reject, `drop` logs and drops it)."""
    path = Path(folder).expanduser().resolve()
    yaml_path = path / "function.yaml"
    config = load_function_config(yaml_path)
    overrides = {**(device_env(device) if device else {}), **(env or {})}
    if invalid_shapes is not None:
        overrides[ENV_INVALID_SHAPES] = invalid_shapes
    for name, value in {**config.env, **overrides}.items():
        if name in overrides or name not in os.environ:
            os.environ[name] = value  # the model may read it at load time, as under Nuclio
    function, timings = load_function(import_model_handler(path), yaml_path, os.environ)
    LOG.info(
        "function loaded name=%s kind=%s labels=%d invalid_shapes=%s load_seconds=%.3f",
        function.config.name,
        function.config.kind,
        len(function.config.labels),
        function.settings.invalid_shapes,
        timings["load_seconds"],
    )
    return function
