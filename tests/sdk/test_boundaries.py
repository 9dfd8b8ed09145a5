"""The layering the image relies on: core imports neither tools nor sdk; sdk (cvat-sdk adapters) never tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cvat_function"


def imported_packages(path: Path) -> set[str]:
    """`cvat_function.<subpackage>` for every import in the file, relative ones resolved."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[: len(parts) - node.level])
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            names = [name] + [f"{name}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {".".join(n.split(".")[:2]) for n in names if n.startswith("cvat_function.")}
    return found


@pytest.mark.parametrize(("layer", "forbidden"), [("core", {"tools", "sdk"}), ("sdk", {"tools"})])
def test_a_layer_never_imports_the_ones_above_it(layer: str, forbidden: set[str]) -> None:
    bad = {
        str(path.relative_to(PACKAGE)): sorted(imports)
        for path in sorted((PACKAGE / layer).glob("*.py"))
        if (imports := imported_packages(path) & {f"cvat_function.{name}" for name in forbidden})
    }
    assert bad == {}
