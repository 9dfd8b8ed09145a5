"""Print a label spec as the strict JSON `metadata.annotations.spec` holds, to paste into function.yaml.

`--from-python TARGET` reads a list of LabelSpec built with cvat_function.spec's builders (`label_spec`,
`skeleton_label_spec` with a generated SVG, `number_attribute_spec`, …) from `module:OBJECT` or
`path/to/file.py:OBJECT`; without it, the spec of the function folder's function.yaml is parsed the way CVAT
parses it and printed back (a check that it is valid). `--yaml` prints the `spec: |` block, indented.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from ..errors import SpecError
from ..spec import LabelSpec, load_function_config, spec_json, spec_yaml_block

HELP = "print a label spec (from Python builders or function.yaml) as JSON for function.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-python", metavar="MODULE:OBJECT", help="e.g. examples/face-skeleton/labels.py:LABELS")
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default: .)")
    parser.add_argument("--yaml", action="store_true", help="print the indented `spec: |` block for function.yaml")


def load_labels(target: str) -> list[LabelSpec]:
    """The list named by `module:OBJECT` or `file.py:OBJECT`."""
    where, _, name = target.rpartition(":")
    if not where or not name:
        raise SpecError(target, "is not MODULE:OBJECT or path/file.py:OBJECT")
    if where.endswith(".py"):
        path = Path(where).resolve()
        sys.path.insert(0, str(path.parent))
        try:
            spec = importlib.util.spec_from_file_location(f"_cvat_spec_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise SpecError(where, "cannot be imported")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
    else:
        module = importlib.import_module(where)
    value = getattr(module, name, None)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, LabelSpec) for v in value):
        raise SpecError(target, "is not a list of LabelSpec", "build it with cvat_function.spec's *_spec helpers")
    return list(value)


def run(args: argparse.Namespace) -> int:
    try:
        if args.from_python:
            labels = load_labels(args.from_python)
        else:
            labels = list(load_function_config(args.function / "function.yaml").labels)
        print(spec_yaml_block(labels) if args.yaml else spec_json(labels))
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
