"""Where a model file is: a path, or a resource of an installed Python package.

A model that ships inside a package (a wheel that carries `model.onnx` next to its code) is named without
knowing where pip put it: `package://PACKAGE/sub/model.onnx` or `PACKAGE:sub/model.onnx` (the import name of
the package, then the file's path inside it). Both are resolved with `importlib.resources`, so they work for
any installed package, also one installed as a zip (the file is then extracted to a temporary path while the
model loads). Anything else is a file path.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE_SCHEME = "package://"
# `pkg.sub:path/in/it.onnx`; a Windows drive letter ("C:\\m.onnx") is one letter, so the package needs two or more
_COLON_FORM = re.compile(r"^(?P<package>[A-Za-z_][\w]+(?:\.[A-Za-z_]\w*)*):(?P<path>[^/\\].*)$")


@dataclass(frozen=True, slots=True)
class PackageResource:
    """A file inside an installed package: `package` (import name) and its `/`-separated `path` in it."""

    package: str
    path: str

    def __str__(self) -> str:
        return f"{PACKAGE_SCHEME}{self.package}/{self.path}"


ModelRef = Path | PackageResource


def parse_model_ref(text: str | Path) -> ModelRef:
    """`package://pkg/sub/m.onnx` or `pkg:sub/m.onnx` → `PackageResource`; anything else → `Path`."""
    if isinstance(text, Path):
        return text
    if text.startswith(PACKAGE_SCHEME):
        package, _, path = text[len(PACKAGE_SCHEME) :].partition("/")
        if not package or not path:
            raise ValueError(f"{text!r} is not package://PACKAGE/path/in/it (e.g. package://acme_models/yolo.onnx)")
        return PackageResource(package, path)
    match = _COLON_FORM.match(text)
    if match:
        return PackageResource(match["package"], match["path"])
    return Path(text)


@contextlib.contextmanager
def model_file(ref: ModelRef) -> Iterator[Path]:
    """A real file path for `ref` while the `with` block runs (onnxruntime wants a path). Raises
    `FileNotFoundError` naming what was looked for and where."""
    if isinstance(ref, Path):
        if not ref.is_file():
            raise FileNotFoundError(f"model file {ref} does not exist")
        yield ref
        return
    try:
        root = importlib.resources.files(ref.package)
    except ModuleNotFoundError as e:
        raise FileNotFoundError(
            f"model {ref}: package {ref.package!r} is not installed (pip install it, and list it in requirements.txt)"
        ) from e
    resource = root.joinpath(*ref.path.split("/"))
    if not resource.is_file():
        raise FileNotFoundError(f"model {ref}: package {ref.package!r} (at {root}) has no file {ref.path!r}")
    with importlib.resources.as_file(resource) as path:
        yield Path(path)


def package_distribution(package: str) -> tuple[str, str] | None:
    """(distribution name, version) of the installed distribution that provides the import name `package`."""
    from importlib import metadata

    names = metadata.packages_distributions().get(package.split(".")[0]) or []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return name, metadata.version(name)
    return None
