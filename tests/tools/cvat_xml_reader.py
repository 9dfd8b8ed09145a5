"""A strict reader of CVAT for images 1.1 annotations: it requires what CVAT's "CVAT 1.1" importer
(`load_anno`) requires and refuses any element or attribute that importer does not read."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from cvat_function.core.masks import decode_rle

_GEOMETRY = {
    "box": {"xtl", "ytl", "xbr", "ybr"},
    "polygon": {"points"}, "polyline": {"points"}, "points": {"points"},
    "ellipse": {"cx", "cy", "rx", "ry"},
    "mask": {"rle", "left", "top", "width", "height"},
    "skeleton": set(),
    "cuboid": {f"{c}{corner}{face}" for corner in ("tl", "bl", "tr", "br") for face in "12" for c in "xy"},
}  # fmt: skip
CUBOID_ORDER = [f"{c}{corner}{face}" for face in "12" for corner in ("tl", "bl", "tr", "br") for c in "xy"]
"""The 16 cuboid attributes in the order of CVAT's points (front face, then back; x before y)."""
_OPTIONAL = {"label", "source", "occluded", "z_order", "group_id", "rotation"}


def read_cvat_xml(data: bytes) -> dict[str, dict[str, Any]]:
    """Image name → {"size", "shapes", "tags"}; refuses any element or attribute CVAT's importer does not read,
    and any missing one it requires."""
    root = ET.fromstring(data)
    assert root.tag == "annotations"
    assert root.findtext("version") == "1.1"
    images = {}
    for image in root.iter("image"):
        assert set(image.attrib) == {"id", "name", "width", "height"}
        shapes, tags = [], []
        for child in image:
            if child.tag == "tag":
                assert set(child.attrib) <= {"label", "source", "group_id"}
                tags.append((child.attrib["label"], _attributes(child)))
                continue
            shapes.append(_read_shape(child, element=False))
        images[image.attrib["name"]] = {
            "size": (int(image.attrib["width"]), int(image.attrib["height"])),
            "shapes": shapes,
            "tags": tags,
        }
    return images


def _attributes(node: ET.Element) -> dict[str, str]:
    values = {}
    for attribute in node.findall("attribute"):
        assert set(attribute.attrib) == {"name"}
        values[attribute.attrib["name"]] = attribute.text or ""
    return values


def _read_shape(node: ET.Element, *, element: bool) -> dict[str, Any]:
    assert node.tag in _GEOMETRY, f"CVAT's importer does not read <{node.tag}>"
    required = _GEOMETRY[node.tag] | {"label"} | ({"outside", "occluded"} if element else set())
    allowed = required | _OPTIONAL | ({"outside"} if element else set())
    assert required <= set(node.attrib), f"<{node.tag}> lacks {required - set(node.attrib)}"
    assert set(node.attrib) <= allowed, f"<{node.tag}> has unknown {set(node.attrib) - allowed}"
    a = node.attrib
    shape: dict[str, Any] = {"label": a["label"], "tag": node.tag, "group": int(a.get("group_id", 0)),
                             "attributes": _attributes(node)}  # fmt: skip
    if node.tag == "box":
        shape["points"] = [float(a[k]) for k in ("xtl", "ytl", "xbr", "ybr")]
    elif node.tag == "mask":
        left, top, width, height = (int(a[k]) for k in ("left", "top", "width", "height"))
        counts = [int(v) for v in a["rle"].split(",")]
        shape["mask"] = decode_rle([*counts, left, top, left + width - 1, top + height - 1])
    elif node.tag == "skeleton":
        shape["elements"] = [_read_shape(e, element=True) for e in node if e.tag != "attribute"]
    elif node.tag == "cuboid":
        shape["points"] = [float(a[k]) for k in CUBOID_ORDER]
    elif node.tag == "ellipse":  # CVAT's importer turns these back into [cx, cy, cx + rx, cy - ry]
        cx, cy, rx, ry = (float(a[k]) for k in ("cx", "cy", "rx", "ry"))
        shape["points"] = [cx, cy, cx + rx, cy - ry]
    else:
        shape["points"] = [float(v) for pair in a["points"].split(";") for v in pair.split(",")]
    if "rotation" in a:
        shape["rotation"] = float(a["rotation"])
    if element:
        shape["outside"] = a["outside"] == "1"
    return shape
