"""How the local tools find and import a function folder's entry, wherever the framework is installed.

A function folder needs function.yaml and model_handler.py (with `ModelHandler`); its main.py is optional.
The root's main.py is generic glue, and `scripts/deploy.sh` writes it into what it deploys for a folder
without one, because Nuclio imports `main` (`spec.handler: main:handler`). The local tools (wire's
`LocalFunction`, serve's workers, invoke, validate, bench) use `generic_main` instead: the same module,
built for the folder.

`framework_path()` is where this `cvat_function` package was imported from (a checkout, site-packages or a
`pip install --target` folder): serve's processes get it on PYTHONPATH, so they run the same framework.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cvat_function

from ..core.runtime import handle_event, init_function

ENTRY_MODULE = "main"
MODEL_MODULE = "model_handler"


def framework_path() -> Path:
    """The folder holding the imported `cvat_function` package (what goes on a child process's PYTHONPATH)."""
    return Path(cvat_function.__file__).resolve().parent.parent


def package_dir() -> Path:
    """The imported `cvat_function` package's own folder (what serve watches for reloads)."""
    return Path(cvat_function.__file__).resolve().parent


def has_own_entry(folder: Path) -> bool:
    return (folder / f"{ENTRY_MODULE}.py").is_file()


def is_function_dir(folder: Path) -> bool:
    """function.yaml plus a main.py or a model_handler.py for the generic entry."""
    has_model = (folder / f"{MODEL_MODULE}.py").is_file()
    return (folder / "function.yaml").is_file() and (has_own_entry(folder) or has_model)


def generic_main(folder: str | Path) -> ModuleType:
    """A module doing what the root's main.py does, for `folder` (whose own imports must be on sys.path).

    Like main.py it imports `model_handler.ModelHandler` at import time and reads the function.yaml beside
    it; `init_context` looks `ModelHandler` up on the module when it runs, so a test can replace it.
    """
    where = Path(folder).resolve()
    if not (where / f"{MODEL_MODULE}.py").is_file():
        raise FileNotFoundError(
            f"{where} has neither main.py nor model_handler.py: a function folder needs model_handler.py "
            "with a ModelHandler class (main.py is optional)"
        )
    model_module = importlib.import_module(MODEL_MODULE)
    module = ModuleType(ENTRY_MODULE, f"The generic entry for {where} (what the root's main.py does).")

    def init_context(context: Any) -> None:
        init_function(context, module.ModelHandler, module.FUNCTION_YAML)

    def handler(context: Any, event: Any) -> Any:
        return handle_event(context, event)

    vars(module).update(
        FUNCTION_YAML=where / "function.yaml",
        ModelHandler=model_module.ModelHandler,
        init_context=init_context,
        handler=handler,
    )
    return module


def import_entry(module_name: str, folder: str | Path) -> ModuleType:
    """The handler's module as Nuclio imports it (`folder` already first on sys.path), or the generic entry
    when the handler is `main:…` and the folder has no main.py."""
    where = Path(folder)
    if module_name == ENTRY_MODULE and not has_own_entry(where):
        module = generic_main(where)
        sys.modules[ENTRY_MODULE] = module
        return module
    return importlib.import_module(module_name)
