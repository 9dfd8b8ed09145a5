"""The two files CVAT imports as annotations, written from `annotate`'s records.

A record is one image: `{"name", "width", "height", "shapes": [...]}`, each shape as the function answers it on
the Nuclio route (`Shape.to_cvat()`), except that a mask carries `"rle"` (CVAT RLE + inclusive box) instead of
the one-number-per-pixel `"mask"`.

* CVAT for images 1.1: `annotations.xml` (in a zip, as CVAT's "CVAT 1.1" importer takes it; a bare .xml works
  too), the element and attribute names CVAT's own exporter writes and its importer reads: boxes, rotated
  boxes, polygons, polylines, points, ellipses, cuboids, masks (`rle`, `left`, `top`, `width`, `height`),
  skeletons (every element with `outside` and `occluded`), tags, attributes and `group_id`.
* COCO 1.0 (instances): rectangles (a rotation as the `rotation` attribute, as CVAT writes it), polygons and
  masks (`iscrowd: 1`, uncompressed column-major RLE over the whole image), attributes in `attributes`. COCO
  has no place for the other shape types, tags, skeletons or groups: `not_carried` counts what was left out.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from ..core.labels import AttributeSpec, Labels, LabelSpec
from ..core.masks import decode_rle

Record = dict[str, Any]
COCO_TYPES = ("rectangle", "polygon", "mask")


def _num(value: float) -> str:
    return f"{float(value):.2f}"


def _pairs(points: Sequence[float]) -> str:
    return ";".join(f"{_num(x)},{_num(y)}" for x, y in zip(points[0::2], points[1::2], strict=True))


_CUBOID_KEYS = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
                "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")  # fmt: skip
_XML_TAGS = {"rectangle": "box"}


def _geometry(shape: Mapping[str, Any]) -> dict[str, str]:
    kind, points = shape["type"], shape.get("points") or []
    if kind == "rectangle":
        return dict(zip(("xtl", "ytl", "xbr", "ybr"), map(_num, points), strict=True))
    if kind == "ellipse":
        cx, cy, right, top = points
        return {"cx": _num(cx), "cy": _num(cy), "rx": _num(right - cx), "ry": _num(cy - top)}
    if kind == "cuboid":
        return dict(zip(_CUBOID_KEYS, map(_num, points), strict=True))
    if kind == "mask":
        *counts, left, top, right, bottom = shape["rle"]
        return {"rle": ", ".join(str(int(c)) for c in counts), "left": str(left), "top": str(top),
                "width": str(right - left + 1), "height": str(bottom - top + 1)}  # fmt: skip
    if kind in ("skeleton", "tag"):
        return {}
    return {"points": _pairs(points)}


def _add_attributes(element: ET.Element, shape: Mapping[str, Any]) -> None:
    for attribute in shape.get("attributes") or []:
        ET.SubElement(element, "attribute", {"name": attribute["name"]}).text = attribute["value"]


def _shape_element(parent: ET.Element, shape: Mapping[str, Any], *, element: bool = False) -> None:
    kind = shape["type"]
    attributes = {"label": shape["label"], "source": "auto"}
    if element:  # CVAT's importer reads these two on every skeleton element without a default
        attributes["outside"] = "1" if shape.get("outside") else "0"
    if kind != "skeleton":
        attributes["occluded"] = "0"
    attributes.update(_geometry(shape))
    if shape.get("rotation") and kind in ("rectangle", "ellipse"):
        attributes["rotation"] = _num(shape["rotation"])
    if not element:
        attributes["z_order"] = "0"
    if shape.get("group_id"):
        attributes["group_id"] = str(shape["group_id"])
    node = ET.SubElement(parent, _XML_TAGS.get(kind, kind), attributes)
    for sub in shape.get("elements") or []:
        _shape_element(node, sub, element=True)
    _add_attributes(node, shape)


def _label_meta(parent: ET.Element, label: LabelSpec, parent_name: str | None = None) -> None:
    node = ET.SubElement(parent, "label")
    ET.SubElement(node, "name").text = label.name
    ET.SubElement(node, "type").text = label.type
    attributes = ET.SubElement(node, "attributes")
    for spec in label.attributes:
        item = ET.SubElement(attributes, "attribute")
        ET.SubElement(item, "name").text = spec.name
        ET.SubElement(item, "mutable").text = "False"
        ET.SubElement(item, "input_type").text = spec.input_type
        ET.SubElement(item, "default_value").text = _default_value(spec)
        ET.SubElement(item, "values").text = "\n".join(spec.values)
    if parent_name is not None:
        ET.SubElement(node, "parent").text = parent_name
    if label.type == "skeleton":
        ET.SubElement(node, "svg").text = label.svg


def _default_value(spec: AttributeSpec) -> str:
    if spec.input_type == "checkbox":
        return "false"
    if spec.input_type == "number":
        return spec.values[0]
    return spec.values[0] if spec.values else ""


def cvat_xml(records: Sequence[Record], labels: Labels, task_name: str = "annotate") -> bytes:
    """The `annotations.xml` of CVAT for images 1.1 for these images, in this order."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = task_name
    ET.SubElement(task, "size").text = str(len(records))
    ET.SubElement(task, "mode").text = "annotation"
    meta_labels = ET.SubElement(task, "labels")
    for label in labels:
        _label_meta(meta_labels, label)
        for sub in label.sublabels:
            _label_meta(meta_labels, sub, label.name)
    for index, record in enumerate(records):
        size = {"width": str(record["width"]), "height": str(record["height"])}
        image = ET.SubElement(root, "image", {"id": str(index), "name": record["name"], **size})
        for shape in record["shapes"]:
            if shape["type"] != "tag":
                _shape_element(image, shape)
        for shape in record["shapes"]:
            if shape["type"] == "tag":
                attributes = {"label": shape["label"], "source": "auto"}
                if shape.get("group_id"):
                    attributes["group_id"] = str(shape["group_id"])
                _add_attributes(ET.SubElement(image, "tag", attributes), shape)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def cvat_zip(records: Sequence[Record], labels: Labels) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annotations.xml", cvat_xml(records, labels))
    return out.getvalue()


def coco_rle(rle: Sequence[int], width: int, height: int) -> dict[str, Any]:
    """CVAT RLE (row-major, inside its box) → COCO's uncompressed RLE (column-major, over the whole image)."""
    box_mask = decode_rle(rle)
    frame = box_mask.full_frame(width, height)
    flat = frame.T.ravel()  # column-major order of the frame
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], changes, [flat.size]))).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"counts": counts, "size": [height, width]}


def _coco_attributes(shape: Mapping[str, Any], label: LabelSpec | None) -> dict[str, Any]:
    out: dict[str, Any] = {"occluded": False}
    specs = {a.name: a for a in label.attributes} if label else {}
    for attribute in shape.get("attributes") or []:
        spec, value = specs.get(attribute["name"]), attribute["value"]
        if spec is not None and spec.input_type == "checkbox":
            out[attribute["name"]] = value == "true"
        elif spec is not None and spec.input_type == "number":
            out[attribute["name"]] = int(value)
        else:
            out[attribute["name"]] = value
    if shape["type"] == "rectangle":
        out["rotation"] = float(shape.get("rotation") or 0.0)
    return out


def _polygon_area(points: Sequence[float]) -> float:
    xs, ys = np.asarray(points[0::2], float), np.asarray(points[1::2], float)
    return float(abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))) / 2)


def coco_json(records: Sequence[Record], labels: Labels) -> tuple[dict[str, Any], Counter[str]]:
    """COCO 1.0 instances for these images and a count of what COCO cannot carry (`label: type`)."""
    categories = [label for label in labels if label.type != "skeleton"]
    category_ids = {label.name: index for index, label in enumerate(categories, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    not_carried: Counter[str] = Counter()
    for image_id, record in enumerate(records, start=1):
        width, height = int(record["width"]), int(record["height"])
        images.append({"id": image_id, "file_name": record["name"], "width": width, "height": height,
                       "license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0})  # fmt: skip
        for shape in record["shapes"]:
            kind = shape["type"]
            if kind not in COCO_TYPES or shape["label"] not in category_ids:
                not_carried[f"{shape['label']}: {kind}"] += 1
                continue
            segmentation: Any
            if kind == "mask":
                segmentation = coco_rle(shape["rle"], width, height)
                left, top, right, bottom = shape["rle"][-4:]
                bbox = [float(left), float(top), float(right - left + 1), float(bottom - top + 1)]
                area = float(decode_rle(shape["rle"]).bitmap.sum())
            else:
                points = [float(v) for v in shape["points"]]
                xs, ys = points[0::2], points[1::2]
                bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
                segmentation = [points] if kind == "polygon" else []
                area = _polygon_area(points) if kind == "polygon" else bbox[2] * bbox[3]
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category_ids[shape["label"]],
                "segmentation": segmentation, "area": area, "bbox": bbox, "iscrowd": int(kind == "mask"),
                "attributes": _coco_attributes(shape, labels.get(shape["label"])),
            })  # fmt: skip
    document = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {
            "contributor": "",
            "date_created": "",
            "description": "cvat_function annotate",
            "url": "",
            "version": "",
            "year": "",
        },
        "categories": [{"id": category_ids[c.name], "name": c.name, "supercategory": ""} for c in categories],
        "images": images,
        "annotations": annotations,
    }
    return document, not_carried


def coco_bytes(records: Sequence[Record], labels: Labels, *, zipped: bool) -> tuple[bytes, Counter[str]]:
    document, not_carried = coco_json(records, labels)
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    if not zipped:
        return text, not_carried
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annotations/instances_default.json", text)
    return out.getvalue(), not_carried


def carried_counts(records: Iterable[Record]) -> Counter[str]:
    """Shapes per label over all records."""
    return Counter(shape["label"] for record in records for shape in record["shapes"])
