"""The runtime core stands apart from the developer tooling: what the image copies imports nothing else.

The list of what the image copies is cvat_function/image-files.txt (the Dockerfile and deploy.sh read it);
every module on it may import only the standard library, the runtime requirements and the other listed
modules. Imports inside functions count too: a lazy `from ..tools import x` would fail in the image.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cvat_function"
IMAGE_FILES = PACKAGE / "image-files.txt"
RUNTIME_DEPENDENCIES = {"numpy", "cv2", "PIL", "yaml"}
"""The import names of requirements.txt's packages (numpy, opencv-python-headless, pillow, pyyaml)."""


EXTRA = re.compile(r"^#\s*extra imports of (\S+):\s*(.+)$")


def extra_imports() -> dict[str, set[str]]:
    """Listed path → the further top-level modules it may import (a model runtime its function installs)."""
    found: dict[str, set[str]] = {}
    for line in IMAGE_FILES.read_text(encoding="utf-8").splitlines():
        match = EXTRA.match(line.strip())
        if match:
            found[match.group(1)] = {name.strip() for name in match.group(2).split(",") if name.strip()}
    return found


def image_entries() -> list[str]:
    lines = IMAGE_FILES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def runtime_modules() -> dict[str, Path]:
    """Dotted module name → file, for every .py the image gets."""
    found: dict[str, Path] = {}
    for entry in image_entries():
        path = ROOT / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.suffix == ".py" else []
        for file in files:
            parts = list(file.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = file
    return found


def imported_names(file: Path, module: str) -> list[tuple[int, str]]:
    """Every absolute module name the file imports (relative imports resolved), with its line."""
    is_package = file.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            # `from . import x` / `from .core import x` may name submodules: check each as one
            names += [(node.lineno, f"{target}.{alias.name}") for alias in node.names] if node.level else []
            names.append((node.lineno, target))
    return names


def allowed(name: str, modules: dict[str, Path], extra: frozenset[str] | set[str] = frozenset()) -> bool:
    top = name.split(".")[0]
    if top in extra:
        return True
    if top == "cvat_function":
        # a listed module, a package above one, or a name inside a listed module (`from .x import func`)
        return any(name == m or m.startswith(name + ".") or name.startswith(m + ".") for m in modules) and not (
            name == "cvat_function.tools" or name.startswith(("cvat_function.tools.", "cvat_function.__main__"))
        )
    return top in RUNTIME_DEPENDENCIES or top in sys.stdlib_module_names or top == "__future__"


def test_the_image_list_holds_the_public_surface_and_the_core_but_no_tooling() -> None:
    entries = image_entries()
    assert {"cvat_function/__init__.py", "cvat_function/py.typed", "cvat_function/core/"} <= set(entries)
    for entry in entries:
        assert (ROOT / entry).exists(), f"image-files.txt lists {entry}, which does not exist"
        assert not entry.startswith(("cvat_function/tools", "cvat_function/__main__")), entry


def test_no_runtime_module_imports_the_tooling_or_a_package_the_image_lacks() -> None:
    modules = runtime_modules()
    assert "cvat_function" in modules
    assert "cvat_function.core.runtime" in modules
    extras = extra_imports()

    def extra_for(file: Path) -> set[str]:
        relative = file.relative_to(ROOT).as_posix()
        return set().union(*(names for entry, names in extras.items() if relative.startswith(entry.rstrip("/"))))

    bad = [
        f"{file.relative_to(ROOT)}:{line}: imports {name}"
        for module, file in modules.items()
        for line, name in imported_names(file, module)
        if not allowed(name, modules, extra_for(file))
    ]
    assert bad == [], "the image would fail to import these:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "offender"),
    [
        ("from ..tools import wire\n", "cvat_function.tools"),
        ("def f():\n    from cvat_function.tools.lint import lint_file\n", "cvat_function.tools.lint"),
        ("import nuclio_sdk\n", "nuclio_sdk"),
        ("from .. import __main__\n", "cvat_function.__main__"),
    ],
)
def test_the_check_catches_a_forbidden_import(tmp_path: Path, source: str, offender: str) -> None:
    file = tmp_path / "bad.py"
    file.write_text(source)
    names = imported_names(file, "cvat_function.core.bad")
    assert offender in [name for _, name in names]
    assert not all(allowed(name, runtime_modules()) for _, name in names)


def test_a_model_runtime_is_allowed_only_where_the_list_says_so() -> None:
    modules = runtime_modules()
    assert not allowed("onnxruntime", modules)
    assert allowed("onnxruntime.capi", modules, {"onnxruntime"})
    assert EXTRA.match("# extra imports of cvat_function/adapters/: onnxruntime, tritonclient")
    assert all(entry in image_entries() for entry in extra_imports()), "extra imports for a path not listed"


def test_requirements_txt_and_pyproject_name_the_same_runtime_ranges() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.split("#")[0].strip()
    ]
    assert sorted(project["dependencies"]) == sorted(requirements)
    assert project["name"] == "cvat-function"
    assert project["scripts"]["cvat-function"] == "cvat_function.__main__:main"


@pytest.mark.slow
def test_the_core_imports_with_the_tooling_and_the_sdk_absent() -> None:
    """The same boundary at run time: the image's modules import with tools and nuclio_sdk made unimportable."""
    modules = " ".join(sorted(runtime_modules()))
    code = (
        "import importlib, sys\n"
        "for blocked in ('cvat_function.tools', 'cvat_function.__main__', 'nuclio_sdk'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {modules!r}.split():\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_version_is_written_once() -> None:
    import cvat_function

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", cvat_function.__version__)
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cvat_function.__version__"}
