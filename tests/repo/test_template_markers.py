"""The template markers sit only where a user edits: the user's room, never the framework or the examples.

`grep -rn` for the marker must list the user's edit points and nothing else, so they are easy to find;
this test keeps markers from creeping back into examples (finished functions) or framework code.
"""

from __future__ import annotations

from pathlib import Path

from ..support import ROOT

MARKER = "TODO" + "(template)"  # spelled in two parts so this file is not a hit itself
ROOM = {  # where the user edits
    "model_handler.py",
    "function.yaml",
    "function-gpu.yaml",
    "Dockerfile",
    "requirements.txt",
    "weights.lock",
    "test_model_handler.py",
}
MENTIONS = {"README.md", "docs/deploy.md"}  # they tell the user how to find the markers
WRITERS = {"cvat_function/tools/scaffold.py"}  # `new` writes a room of its own, with its markers
SKIP = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "build", "out"}


def files_with_markers(root: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if SKIP & set(relative.parts) or not path.is_file():
            continue
        try:
            count = path.read_text(encoding="utf-8").count(MARKER)
        except (UnicodeDecodeError, OSError):
            continue  # images and other binaries
        if count:
            found[relative.as_posix()] = count
    return found


def test_markers_are_only_in_the_users_room():
    misplaced = sorted(set(files_with_markers(ROOT)) - ROOM - MENTIONS - WRITERS)
    assert not misplaced, f"{MARKER} markers outside the user's room: {misplaced}; say what the line does instead"


def test_the_scan_sees_a_marker_where_one_is(tmp_path: Path):
    (tmp_path / "examples" / "x").mkdir(parents=True)
    (tmp_path / "examples" / "x" / "model_handler.py").write_text(f"# {MARKER}: load your model\n")
    (tmp_path / "model_handler.py").write_text(f"# {MARKER}: a\n# {MARKER}: b\n")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\xff\xfe")
    assert files_with_markers(tmp_path) == {"examples/x/model_handler.py": 1, "model_handler.py": 2}
