"""Importing a function folder's own modules in a process that loads several folders (tools, the SDK adapter).

Nuclio runs one folder per process with that folder first on `sys.path`, so `from model_handler import
ModelHandler` (and the user's `from labels import …`) find the folder's files under their plain names. The local
tools and the cvat-sdk adapter load many folders into one process: `isolated_folder` gives each the same view and
takes it away again, so the next folder never gets the previous one's `main` or `model_handler`. Not part of the
function image (cvat_function/image-files.txt): Nuclio does this itself.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType


@contextmanager
def isolated_folder(folder: Path, also: Iterable[str] = ()) -> Iterator[None]:
    """`folder` first on `sys.path` while inside; its modules (every `*.py` stem there, plus `also`) are
    imported fresh and removed from `sys.modules` afterwards, and whatever those names held before is put back."""
    local = {p.stem for p in folder.glob("*.py")} | set(also)
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in local}
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n.split(".")[0] in local]:
            del sys.modules[name]
        sys.modules.update(saved)


def exec_file(name: str, path: Path) -> ModuleType:
    """Import the file at `path` as module `name` (registered, so its own imports of `name` find it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
