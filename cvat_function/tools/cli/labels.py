"""`labels`: print a label spec as the strict JSON `metadata.annotations.spec` holds, to paste into function.yaml.

`--from-python TARGET` reads a list of LabelSpec built with cvat_function's builders (`label_spec`,
`skeleton_label_spec` with a generated SVG, `number_attribute_spec`, …) from `module:OBJECT` or
`path/to/file.py:OBJECT`; `--from-onnx MODEL.onnx` derives it from the class names the model carries (ONNX
metadata `names`, as Ultralytics exports write it: ids are the class indices; the label type follows the
export's `task` (segment → mask, pose → a skeleton per class built from `kpt_shape`, classify → tag) unless
`--type` says otherwise); without
either, the spec of the function folder's function.yaml is parsed the way CVAT parses it and printed back (a
check that it is valid). `--yaml` prints the `spec: |` block, indented.

The ONNX metadata is read with onnxruntime (what an ONNX function runs with), imported only for `--from-onnx`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ...core.config import load_function_config
from ...core.errors import SpecError
from ...core.labels import LABEL_TYPES, LabelSpec, class_label_specs, parse_class_names, spec_json, spec_yaml_block

HELP = "print the labels (from Python builders, an ONNX model's class names or function.yaml) as spec JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-python", metavar="MODULE:OBJECT", help="e.g. examples/face-skeleton/labels.py:LABELS")
    parser.add_argument(
        "--from-onnx", type=Path, metavar="MODEL.onnx", help="an ONNX model whose metadata carries 'names'"
    )
    parser.add_argument(
        "--type",
        choices=[t for t in LABEL_TYPES if t != "skeleton"],
        help="label type for --from-onnx (default: from the export's task; rectangle without one)",
    )
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
            module_spec = importlib.util.spec_from_file_location(f"_cvat_labels_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise SpecError(where, "cannot be imported")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
    else:
        module = importlib.import_module(where)
    value = getattr(module, name, None)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, LabelSpec) for v in value):
        raise SpecError(target, "is not a list of LabelSpec", "build it with cvat_function's *_spec helpers")
    return list(value)


def onnx_labels(model: Path, label_type: str | None) -> list[LabelSpec]:
    """One label per class of an ONNX model; of `label_type`, else of what its Ultralytics `task` answers."""
    names, metadata = onnx_class_names(model, with_metadata=True)
    if label_type is not None:
        return class_label_specs(names, label_type)
    from ...onnx.ultralytics import SHAPE_OF_TASK, ExportInfo, label_specs, literal

    task = metadata.get("task", "detect")
    kpt_shape = literal(metadata, "kpt_shape") if task == "pose" else None
    if task == "pose" and isinstance(kpt_shape, (list, tuple)) and len(kpt_shape) == 2:
        export = ExportInfo("pose", names, (0, 0), "", False, False, kpt_shape=(int(kpt_shape[0]), int(kpt_shape[1])))
        return label_specs(export)
    return class_label_specs(names, SHAPE_OF_TASK.get(task, "rectangle") if task != "pose" else "rectangle")


def onnx_class_names(model: Path, with_metadata: bool = False) -> Any:
    """Class index → name from an ONNX model's metadata `names`, read with onnxruntime (and the metadata)."""
    if not model.is_file():
        raise SpecError(str(model), "does not exist")
    try:
        import onnxruntime
    except ImportError as e:
        raise SpecError("--from-onnx", "needs onnxruntime", "pip install onnxruntime") from e
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # metadata only
    options.log_severity_level = 3  # errors only
    try:
        session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable files
        raise SpecError(str(model), f"cannot be loaded by onnxruntime ({type(e).__name__}: {e})") from e
    metadata: dict[str, str] = session.get_modelmeta().custom_metadata_map
    if "names" not in metadata:
        raise SpecError(
            str(model),
            f"has no 'names' metadata (keys: {sorted(metadata) or 'none'})",
            "write the spec by hand, one label per class index, or build it with --from-python",
        )
    names = parse_class_names(metadata["names"], f"{model} metadata 'names'")
    return (names, metadata) if with_metadata else names


def run(args: argparse.Namespace) -> int:
    try:
        if args.from_python and args.from_onnx:
            raise SpecError("--from-python/--from-onnx", "give one source of labels, not both")
        if args.from_python:
            labels = load_labels(args.from_python)
        elif args.from_onnx:
            labels = onnx_labels(args.from_onnx, args.type)
        else:
            labels = list(load_function_config(args.function / "function.yaml").labels)
        print(spec_yaml_block(labels) if args.yaml else spec_json(labels))
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
